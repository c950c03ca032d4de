/** Runs `work` while no other holder of the same key runs. */
export type PolicyLock = <T>(key: string, work: () => Promise<T>) => Promise<T>;

/** Edits queue up per key, one after the other, within this process. */
export function inProcessPolicyLock(): PolicyLock {
  const tails = new Map<string, Promise<void>>();
  return async (key, work) => {
    const before = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => mine);
    tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}
