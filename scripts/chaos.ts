import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { chaosOptions, runChaos } from '../test/chaos/engine';
import { startStandaloneInfrastructure, stopOnInterrupt, type StandaloneInfrastructure } from '../test/chaos/infrastructure';
import { formatChaosReport } from '../test/chaos/report';

const USAGE = `npm run chaos -- [--rotations N] [--tokens N] [--concurrency N] [--seed N] [--fault-rate 0.2] [--keep]

Starts a throwaway Postgres, a Temporal dev server and the Cloudflare simulator, runs N service-token
rotations (default 200) through the API while faults are injected and the worker process is SIGKILLed
and restarted, then checks DESIGN.md §5's invariants. Exits 1 on any violation.`;

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      rotations: { type: 'string' },
      tokens: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      'fault-rate': { type: 'string' },
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
  const concurrency = Math.min(tokens, positiveInt('concurrency', values.concurrency, 12));
  const seed = positiveInt('seed', values.seed, Date.now() % 100_000);
  const faultRate = values['fault-rate'] === undefined ? 0.2 : Number(values['fault-rate']);
  if (!(faultRate >= 0 && faultRate <= 1)) throw new Error('--fault-rate must be between 0 and 1');

  const log = (line: string) => process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-chaos-'));
  let infrastructure: StandaloneInfrastructure | undefined;
  stopOnInterrupt(() => infrastructure, log);
  let passed = false;
  try {
    infrastructure = await startStandaloneInfrastructure({ temporalCliPath: process.env.TEMPORAL_CLI_PATH, log });
    // 200 rotations take about 5 minutes under these faults; the phase is bounded well above that.
    const report = await runChaos(
      chaosOptions({
        rotations,
        tokens,
        concurrency,
        seed,
        faultRate,
        temporalAddress: infrastructure.temporalAddress,
        databaseUrl: infrastructure.databaseUrl,
        workDir,
        chaosPhaseMs: Math.max(60_000, rotations * 2_400),
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
    process.stderr.write(`chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
