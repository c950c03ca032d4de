export const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Like Promise.all, but settles every promise before it rejects with the first failure. A store
 * activity left running behind an early rejection would land after whatever the workflow does
 * next: a write of the new credential after compensation restored the old one (and deleted the
 * token the write hands out).
 */
export async function allSettled<T>(work: Array<Promise<T>>): Promise<T[]> {
  const values: T[] = [];
  for (const result of await Promise.allSettled(work)) {
    if (result.status === 'rejected') throw result.reason;
    values.push(result.value);
  }
  return values;
}
