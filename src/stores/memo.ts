/**
 * What a store learnt about its target and would otherwise have to ask for again, e.g. the ids
 * of Secrets Store secrets (editing one takes its id; finding the id takes a list request).
 * Production keeps it in Postgres (src/db/store-memo.ts), shared by every worker process and kept
 * across restarts. Only a cache: every entry may be stale or missing, and a store that finds one
 * wrong asks Cloudflare instead, so a memo never decides what a store holds.
 */
export interface StoreMemo {
  get(key: string): Promise<string | undefined>;
  set(key: string, value: string): Promise<void>;
}

/** The fallback when a process has no shared memo: forgotten on restart, not shared. */
export function createMemoryStoreMemo(): StoreMemo {
  const entries = new Map<string, string>();
  return {
    get: async (key) => entries.get(key),
    set: async (key, value) => {
      entries.set(key, value);
    },
  };
}
