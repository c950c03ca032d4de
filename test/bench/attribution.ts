import { Context } from '@temporalio/activity';

/** One attempt of one activity and the Cloudflare API requests it sent. */
export interface AttemptRequests {
  activityType: string;
  taskQueue: string;
  requests: number;
}

/**
 * Which activity sent each Cloudflare API request. The bench runs the workers in its own
 * process, and an activity's context follows its async calls, so a `fetch` wrapper can ask
 * `Context.current()` who is calling. The SDK takes the global `fetch` when a client is
 * constructed: install this before any client exists.
 */
export class RequestAttribution {
  private prefix: string | null = null;
  private attempts = new Map<string, AttemptRequests>();
  /** API requests sent outside any activity (none should be, while a scenario measures). */
  outsideActivities = 0;

  /** Starts counting requests to `baseURL` (the scenario's simulator) afresh. */
  watch(baseURL: string): void {
    this.prefix = baseURL;
    this.attempts = new Map();
    this.outsideActivities = 0;
  }

  stop(): AttemptRequests[] {
    this.prefix = null;
    return [...this.attempts.values()];
  }

  saw(url: string): void {
    if (this.prefix === null || !url.startsWith(this.prefix)) return;
    let info: Context['info'];
    try {
      info = Context.current().info;
    } catch {
      this.outsideActivities += 1;
      return;
    }
    const key = `${info.workflowExecution?.workflowId}/${info.workflowExecution?.runId}/${info.activityId}/${info.attempt}`;
    const entry = this.attempts.get(key) ?? { activityType: info.activityType, taskQueue: info.taskQueue, requests: 0 };
    entry.requests += 1;
    this.attempts.set(key, entry);
  }
}

function urlOf(input: Parameters<typeof fetch>[0]): string {
  if (typeof input === 'string') return input;
  if (input instanceof URL) return input.href;
  return input.url;
}

/** Wraps the global `fetch` of this (bench) process once; the wrapper only counts. */
export function installRequestAttribution(): RequestAttribution {
  const attribution = new RequestAttribution();
  const original = globalThis.fetch;
  globalThis.fetch = (input, init) => {
    attribution.saw(urlOf(input));
    return original(input, init);
  };
  return attribution;
}
