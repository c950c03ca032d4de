import type { RestartableServices } from './infrastructure';
import { describeOutage, type Outage, type OutageLog, type Service } from './outages';
import { sleep, type ChaosRandom } from './random';

export interface InfrastructureFaultOptions {
  temporalRestarts: number;
  postgresRestarts: number;
  /** How long a server stays down before it is started again. */
  downMs: [number, number];
  /** Share of each server's restarts that crash it (SIGKILL, `immediate`) rather than stop it (SIGTERM, `fast`). */
  crashShare: number;
  /** Restarts happen between these shares of the chaos phase's starts (started / rotations). */
  progressWindow: [number, number];
  /** At least this long between one server coming back and the next going down. */
  minGapMs: number;
}

/** A default run's: each server restarts twice, one of them a crash, down for a few seconds. */
export const DEFAULT_INFRASTRUCTURE_FAULTS: InfrastructureFaultOptions = {
  temporalRestarts: 2,
  postgresRestarts: 2,
  downMs: [2_000, 8_000],
  crashShare: 0.5,
  progressWindow: [0.1, 0.8],
  minGapMs: 20_000,
};

export interface PlannedRestart {
  service: Service;
  /** Share of the phase's starts made when it comes. */
  atProgress: number;
  crash: boolean;
  downMs: number;
}

/** Where in the chaos phase each server goes down, how and for how long: the run's seed decides. */
export function planRestarts(options: InfrastructureFaultOptions, random: ChaosRandom): PlannedRestart[] {
  const plan: PlannedRestart[] = [];
  for (const [service, count] of [
    ['temporal', options.temporalRestarts],
    ['postgres', options.postgresRestarts],
  ] as const) {
    const crashes = Math.round(count * options.crashShare);
    // `crashes` of the `count` restarts crash the server, in an order the seed picks.
    const kinds = Array.from({ length: count }, (_, i) => i < crashes);
    for (let i = kinds.length - 1; i > 0; i--) {
      const j = random.between(0, i);
      [kinds[i], kinds[j]] = [kinds[j]!, kinds[i]!];
    }
    for (const crash of kinds) {
      const [from, to] = options.progressWindow;
      plan.push({
        service,
        atProgress: from + random.next() * (to - from),
        crash,
        downMs: random.between(...options.downMs),
      });
    }
  }
  return plan.sort((a, b) => a.atProgress - b.atProgress);
}

const how = (restart: PlannedRestart) =>
  restart.service === 'temporal' ? (restart.crash ? 'SIGKILL' : 'SIGTERM') : restart.crash ? 'immediate' : 'fast';

export interface InfrastructureFaultInputs {
  services: RestartableServices;
  plan: PlannedRestart[];
  outages: OutageLog;
  minGapMs: number;
  /** The chaos phase's share of starts made so far. */
  progress: () => number;
  calm: () => boolean;
  log: (line: string) => void;
  /** Called when a server is back. */
  onRecovered?: (outage: Outage) => void;
}

/**
 * Takes Temporal and Postgres down at the planned points of the chaos phase and brings each back
 * on its port with its state (Temporal's SQLite file, Postgres's data directory). A server that
 * does not come back is an error of the harness, not a finding: it is thrown, and whoever waits
 * for the outage to end gets it too.
 */
export async function runInfrastructureFaults(input: InfrastructureFaultInputs): Promise<void> {
  let lastUp = 0;
  for (const restart of input.plan) {
    while (!input.calm() && (input.progress() < restart.atProgress || Date.now() - lastUp < input.minGapMs))
      await sleep(250);
    if (input.calm()) break;
    const outage = input.outages.begin(restart.service, how(restart));
    input.log(`${describeOutage(outage)}: down for ${(restart.downMs / 1000).toFixed(1)} s`);
    try {
      await bringDown(input.services, restart);
      await sleep(restart.downMs);
      await bringUp(input.services, restart.service, outage);
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      input.outages.fail(failure);
      throw failure;
    }
    input.outages.end(outage);
    lastUp = Date.now();
    input.log(`${describeOutage(outage)}: back after ${((lastUp - outage.from) / 1000).toFixed(1)} s`);
    input.onRecovered?.(outage);
  }
}

async function bringDown(services: RestartableServices, restart: PlannedRestart): Promise<void> {
  if (restart.service === 'temporal') await services.temporal.stop(restart.crash ? 'SIGKILL' : 'SIGTERM');
  else await services.postgres.stop(restart.crash ? 'immediate' : 'fast');
}

async function bringUp(services: RestartableServices, service: Service, outage: Outage): Promise<void> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      await services[service].start();
      return;
    } catch (error) {
      lastError = error;
      await sleep(2_000);
    }
  }
  throw new Error(
    `${describeOutage(outage)}: the server did not come back: ${lastError instanceof Error ? lastError.message : String(lastError)}`,
  );
}
