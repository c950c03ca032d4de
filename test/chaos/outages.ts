import { sleep } from './random';

export type Service = 'temporal' | 'postgres';

export interface Outage {
  service: Service;
  /** How the server went down: SIGTERM or SIGKILL (Temporal), fast or immediate (Postgres). */
  how: string;
  /** Numbered per service, from 1. */
  number: number;
  from: number;
  /** When the server answered again; null while it is down. */
  to: number | null;
}

export const describeOutage = (outage: Outage) =>
  `${outage.service === 'temporal' ? 'Temporal' : 'Postgres'} restart #${outage.number} (${outage.how})`;

/**
 * The infrastructure outages of a chaos run, as they happen. What fails during one, or shortly
 * after while clients reconnect, is the outage's doing; what fails at any other time is not.
 */
export class OutageLog {
  readonly outages: Outage[] = [];
  private waiters: Array<() => void> = [];
  /** Set when a server could not be brought back: nothing waits for it any longer. */
  private broken: Error | undefined;

  constructor(
    /** How long after an outage a failure may still be its doing (reconnect backoffs, long polls). */
    readonly graceMs: number,
  ) {}

  begin(service: Service, how: string): Outage {
    const outage: Outage = {
      service,
      how,
      number: this.outages.filter((o) => o.service === service).length + 1,
      from: Date.now(),
      to: null,
    };
    this.outages.push(outage);
    return outage;
  }

  end(outage: Outage): void {
    outage.to = Date.now();
    if (this.down()) return;
    for (const wake of this.waiters.splice(0)) wake();
  }

  down(): boolean {
    return this.outages.some((o) => o.to === null);
  }

  /** Resolves once no server is down; rejects when one will not come back. */
  async whenUp(): Promise<void> {
    if (!this.broken && this.down()) await new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.broken) throw this.broken;
  }

  fail(error: Error): void {
    this.broken = error;
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** The outage a failure at `at` may be blamed on: the latest one going on, or over for less than the grace. */
  explaining(at: number): Outage | undefined {
    return [...this.outages]
      .reverse()
      .find((o) => o.from <= at && at <= (o.to ?? Number.POSITIVE_INFINITY) + this.graceMs);
  }

  count(service: Service): number {
    return this.outages.filter((o) => o.service === service).length;
  }
}

/**
 * A client's retries: `attempt` runs again once an outage that explains its failure is over,
 * until it succeeds or fails with nothing to blame; that failure is thrown for the caller to
 * report. `retryable` says which failures an outage can cause at all.
 */
export async function rideOutOutages<T>(
  outages: OutageLog,
  attempt: () => Promise<T>,
  retryable: (error: unknown) => boolean,
): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (!retryable(error) || !outages.explaining(Date.now())) throw error;
      await outages.whenUp();
      await sleep(Math.min(5_000, 500 * tries));
    }
  }
}
