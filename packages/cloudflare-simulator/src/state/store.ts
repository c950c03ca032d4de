import type { SimClock } from '../clock';
import { newHexId } from '../ids';
import type { SimData } from './types';

export type PersistFn = (data: SimData) => void;

/**
 * Holds the simulator's data and writes it out after every completed mutation.
 * Mutations nest (a seed creates many things); the write happens once, when the
 * outermost mutation returns. A mutation that throws is not persisted — every
 * mutator validates before it changes anything, so nothing half-done is left behind.
 */
export class SimStore {
  private depth = 0;
  private dirty = false;

  constructor(
    readonly data: SimData,
    readonly clock: SimClock,
    private readonly persist?: PersistFn,
  ) {}

  mutate<T>(change: (data: SimData) => T): T {
    this.depth += 1;
    let ok = false;
    try {
      const result = change(this.data);
      ok = true;
      return result;
    } finally {
      this.depth -= 1;
      if (ok) this.dirty = true;
      if (this.depth === 0) this.flush();
    }
  }

  /** Writes the state out now, changed or not (start-up: the file exists from the first moment). */
  save(): void {
    this.dirty = true;
    this.flush();
  }

  flush(): void {
    if (this.dirty && this.persist) this.persist(this.data);
    this.dirty = false;
  }

  nowIso(): string {
    return this.clock.nowIso();
  }

  now(): number {
    return this.clock.now();
  }
}

export const DEFAULT_SECRETS_QUOTA = 100;

export function emptySimData(): SimData {
  return {
    version: 1,
    user: { id: newHexId(), email: 'operator@token-warden.example' },
    accounts: {},
    zones: {},
    apiTokens: {},
    serviceTokens: {},
    accessApps: {},
    accessPolicies: {},
    workerScripts: {},
    secretsStores: {},
    secretsStoreSecrets: {},
    secretsQuota: DEFAULT_SECRETS_QUOTA,
    demo: null,
  };
}
