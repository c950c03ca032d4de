/**
 * One API request as the rate limit saw it, the moment it arrived (simulator clock, ms): for
 * callers that need requests over time (`npm run bench`), where the counts keep only totals.
 */
export interface ApiRequestEvent {
  operationId: string;
  at: number;
  /** Refused by the rate limit (answered 429). */
  rateLimited: boolean;
}

/** What a request listener receives: the request, whom it counted against, and where it came from. */
export interface CountedApiRequest extends ApiRequestEvent {
  /** The rate-limit key it counted against: `user:<user id>`, `account-token:<token id>` or `ip:<address>`. */
  key: string;
  /** Spent through `sim.rateLimit.spend` as another client of the same owner (operationId "outside"); no HTTP request. */
  outside: boolean;
  /** Start of the window it was counted in (simulator clock, ms); null when it was refused. */
  windowStart: number | null;
  /**
   * The HTTP method and path (relative to `/client/v4`, without the query) of an API request, so
   * a listener can tell which resource it named (the bench times a revoke to the `rotate` of its
   * token); null for outside requests.
   */
  method: string | null;
  path: string | null;
}

export type ApiRequestListener = (event: CountedApiRequest) => void;

/** Counts requests per operation id and outcome ("200", "403", …, or "dropped"). */
export class CallCounter {
  private readonly table = new Map<string, Map<string, number>>();
  private readonly listeners = new Set<ApiRequestListener>();

  /** Every request the rate limit counts (outside ones included) goes to `listener` as it arrives; returns the unsubscribe. */
  onRequest(listener: ApiRequestListener): () => void {
    this.listeners.add(listener);
    return () => void this.listeners.delete(listener);
  }

  arrived(event: CountedApiRequest): void {
    for (const listener of this.listeners) listener(event);
  }

  record(operationId: string, outcome: number | 'dropped'): void {
    const row = this.table.get(operationId) ?? new Map<string, number>();
    const key = String(outcome);
    row.set(key, (row.get(key) ?? 0) + 1);
    this.table.set(operationId, row);
  }

  counts(): Record<string, Record<string, number>> {
    const out: Record<string, Record<string, number>> = {};
    for (const [operationId, row] of this.table) out[operationId] = Object.fromEntries(row);
    return out;
  }

  /** Calls to one operation, optionally only those with one outcome. */
  count(operationId: string, outcome?: number | 'dropped'): number {
    const row = this.table.get(operationId);
    if (!row) return 0;
    if (outcome !== undefined) return row.get(String(outcome)) ?? 0;
    let total = 0;
    for (const n of row.values()) total += n;
    return total;
  }

  total(): number {
    let total = 0;
    for (const operationId of this.table.keys()) total += this.count(operationId);
    return total;
  }

  reset(): void {
    this.table.clear();
  }
}
