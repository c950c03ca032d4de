import { failureSummary } from '../failures';

/** One way back from a step the rotation took, pushed once the step has happened. */
export interface Compensation {
  name: string;
  run: () => Promise<unknown>;
  /** Gives every store the current credential back. */
  restoresStores?: boolean;
  /** Takes the new credential away: unsafe while a store may still hold it. */
  revokesNew?: boolean;
  /** What to do instead when an emergency revoke arrived during the run. */
  whenRevoked?: { name: string; run: () => Promise<unknown> };
}

/** What compensating did: undone, failed, and what was left valid on purpose. */
export interface Undone {
  undone: string[];
  failed: Array<{ name: string; error: Record<string, unknown> }>;
  keptValid: string[];
}

export interface SagaLog {
  error(message: string, attributes: Record<string, unknown>): void;
}

/**
 * The rotation's compensations, undone last-in first-out when it fails before retire.
 *
 * Safety rules: a store that could not be given the old credential back may still hold the new
 * one, so once a `restoresStores` compensation failed, every later `revokesNew` one is skipped
 * (both credentials stay valid, and the outcome says so). After an emergency revoke a
 * compensation with a `whenRevoked` alternative runs that instead.
 */
export class Saga {
  private readonly compensations: Compensation[] = [];
  private readonly keptOnPurpose: string[] = [];

  constructor(private readonly log: SagaLog) {}

  push(compensation: Compensation): void {
    this.compensations.push(compensation);
  }

  /** Names what a failure will leave valid on purpose (it is reported as kept valid). */
  keepValid(...names: string[]): void {
    this.keptOnPurpose.push(...names);
  }

  /** Runs every compensation, newest first; never throws. */
  async compensate(options: { revoked: boolean }): Promise<Undone> {
    const result: Undone = { undone: [], failed: [], keptValid: [...this.keptOnPurpose] };
    let storesRestored = true;
    for (const entry of [...this.compensations].reverse()) {
      const compensation = options.revoked && entry.whenRevoked ? entry.whenRevoked : entry;
      if (entry.revokesNew && !storesRestored) {
        result.keptValid.push(compensation.name);
        this.log.error('compensation skipped: a store may still hold the new credential', { step: compensation.name });
        continue;
      }
      try {
        await compensation.run();
        result.undone.push(compensation.name);
      } catch (error) {
        result.failed.push({ name: compensation.name, error: failureSummary(error) });
        if (entry.restoresStores) storesRestored = false;
        this.log.error('compensation failed', { step: compensation.name, error: failureSummary(error) });
      }
    }
    return result;
  }
}

/** "compensated" only when something was undone and nothing was left half-undone. */
export function compensationStatus(result: Undone): 'compensated' | 'failed' {
  return result.undone.length && !result.failed.length && !result.keptValid.length ? 'compensated' : 'failed';
}
