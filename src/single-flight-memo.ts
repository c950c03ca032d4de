export interface SingleFlightMemo<T> {
  /** The kept value while it lasts; otherwise the read in flight, or a new one. */
  get(): Promise<T>;
  /** Forgets the kept value; a read already in flight is neither kept nor shared any more. */
  invalidate(): void;
}

export interface SingleFlightMemoOptions<T> {
  /** How long a value is kept after its read ends; 0: shared while its read runs, kept no longer. */
  ttlMs: number;
  /** Whether a value is worth keeping (default: every value). */
  keep?: (value: T) => boolean;
  now?: () => number;
}

/**
 * The latest value of a read, shared for a short while: concurrent callers share one read, and
 * for `ttlMs` after it ends its value, unless `keep` refuses it. A failed read is kept by no one.
 */
export function singleFlightMemo<T>(read: () => Promise<T>, options: SingleFlightMemoOptions<T>): SingleFlightMemo<T> {
  const now = options.now ?? Date.now;
  const keep = options.keep ?? (() => true);
  let kept: { value: T; until: number } | null = null;
  let flight: Promise<T> | null = null;
  // Bumped by invalidate(): a read begun before then may predate what made the value old.
  let generation = 0;

  const start = (): Promise<T> => {
    const begun = generation;
    const current = read().then(
      (value) => {
        if (flight === current) flight = null;
        if (options.ttlMs > 0 && begun === generation && keep(value)) kept = { value, until: now() + options.ttlMs };
        return value;
      },
      (error: unknown) => {
        if (flight === current) flight = null;
        throw error;
      },
    );
    flight = current;
    return current;
  };

  return {
    get() {
      if (kept && now() < kept.until) return Promise.resolve(kept.value);
      kept = null;
      return flight ?? start();
    },
    invalidate() {
      generation++;
      kept = null;
      flight = null;
    },
  };
}

/** Callers that ask while a read is running share its answer; nothing is kept once it ends. */
export function sharedWhileRunning<T>(read: () => Promise<T>): () => Promise<T> {
  const memo = singleFlightMemo(read, { ttlMs: 0 });
  return () => memo.get();
}
