import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chaosOptions, runChaos } from '../test/chaos/engine';
import {
  startStandaloneInfrastructure,
  stopOnInterrupt,
  type StandaloneInfrastructure,
} from '../test/chaos/infrastructure';
import { DEFAULT_INFRASTRUCTURE_FAULTS } from '../test/chaos/infrastructure-faults';
import { formatChaosReport } from '../test/chaos/report';

const USAGE = `npm run chaos -- [--rotations N] [--tokens N] [--api-tokens N] [--concurrency N] [--seed N] [--fault-rate 0.2]
                     [--workers 2] [--temporal-restarts 2] [--postgres-restarts 2] [--keep]

Starts a throwaway Postgres, a Temporal dev server (state in a SQLite file) and the Cloudflare
simulator, runs N rotations (default 200) of service tokens (default 12) and API tokens (default 4,
successors; account-owned and the user's; with any, token-warden's own token too, which the
workers read from the file its rotation writes) through the API while faults are injected,
the worker processes are SIGKILLed and restarted, and Temporal and Postgres restart mid-run, then
checks DESIGN.md §5's invariants. Exits 1 on any violation.`;

function count(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min) throw new Error(`--${name} must be an integer of at least ${min}`);
  return parsed;
}
const positiveInt = (name: string, value: string | undefined, fallback: number) => count(name, value, fallback, 1);

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rotations: { type: 'string' },
      tokens: { type: 'string' },
      'api-tokens': { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      'fault-rate': { type: 'string' },
      workers: { type: 'string' },
      'temporal-restarts': { type: 'string' },
      'postgres-restarts': { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const rotations = positiveInt('rotations', values.rotations, 200);
  const tokens = positiveInt('tokens', values.tokens, 12);
  const apiTokens = count('api-tokens', values['api-tokens'], 4, 0);
  const concurrency = Math.min(tokens + apiTokens, positiveInt('concurrency', values.concurrency, 12));
  const seed = positiveInt('seed', values.seed, Date.now() % 100_000);
  const faultRate = values['fault-rate'] === undefined ? 0.2 : Number(values['fault-rate']);
  if (!(faultRate >= 0 && faultRate <= 1)) throw new Error('--fault-rate must be between 0 and 1');
  const workers = positiveInt('workers', values.workers, 2);
  const temporalRestarts = count('temporal-restarts', values['temporal-restarts'], 2, 0);
  const postgresRestarts = count('postgres-restarts', values['postgres-restarts'], 2, 0);

  const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-chaos-'));
  let infrastructure: StandaloneInfrastructure | undefined;
  stopOnInterrupt(() => infrastructure, log);
  let passed = false;
  try {
    const restarts = temporalRestarts + postgresRestarts;
    infrastructure = await startStandaloneInfrastructure({
      temporalCliPath: process.env.TEMPORAL_CLI_PATH,
      restartable: restarts > 0,
      log,
    });
    // 200 rotations take 6 to 9 minutes under these faults; the phase is bounded well above that,
    // and each restart of a server may hold starts back for half a minute more.
    const report = await runChaos(
      chaosOptions({
        rotations,
        tokens,
        apiTokens,
        concurrency,
        seed,
        faultRate,
        workers,
        infrastructureFaults: { ...DEFAULT_INFRASTRUCTURE_FAULTS, temporalRestarts, postgresRestarts },
        services: infrastructure.services,
        temporalAddress: infrastructure.temporalAddress,
        databaseUrl: infrastructure.databaseUrl,
        workDir,
        chaosPhaseMs: Math.max(60_000, rotations * 3_000) + restarts * 30_000,
        log,
      }),
    );
    process.stdout.write(`${formatChaosReport(report)}\n`);
    passed = report.violations.length === 0;
  } finally {
    await infrastructure?.stop();
    if (passed && !values.keep) rmSync(workDir, { recursive: true, force: true });
    else log(`work directory kept: ${workDir}`);
  }
  return passed ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(
      `chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(2);
  },
);
