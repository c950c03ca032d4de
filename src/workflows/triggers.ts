/** Who or what started a run: "api:<client>", "schedule:<schedule id>", "signal:<client>", "sweep". */
export interface Trigger {
  actor: string;
  reason?: string;
}

export function cloudflareTaskQueue(mainTaskQueue: string): string {
  return `${mainTaskQueue}-cloudflare`;
}
