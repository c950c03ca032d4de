import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { configuredApiClients } from '../src/api/clients';
import { createLogger } from '../src/logger';
import { adoptDemoCredentials } from '../src/runtime/demo';
import { installTemporalLogger } from '../src/runtime/temporal-logging';
import { openRuntime } from '../src/runtime/open-runtime';
import { buildRuntimeApp, startRuntimeWorkers } from '../src/runtime/services';
import { freePort } from '../src/temporal/dev-server';
import { startTestPostgres } from '../test/support/postgres-server';

const SCHEMATHESIS_VERSION = '4.32.5';
/** The longest an answer may take: `/tokens/health` and `/tokens/heal` wait for a run bounded at 5 minutes. */
const RUN_BOUND_SECONDS = 300;

const USAGE = `npm run fuzz -- [--max-examples N] [--seed N] [--workers N] [--embedded-postgres] [--keep] [--url URL --token TOKEN]

Runs token-warden as \`npm start\` does (simulation mode: the seeded Cloudflare simulator, a Temporal dev
server, the workers and the API as src/main.ts wires them) in a throwaway DATA_DIR on free ports, then
Schemathesis ${SCHEMATHESIS_VERSION} (installed once into ~/.cache/token-warden/schemathesis) against its
OpenAPI document (/docs/json) with every check, authenticated with a generated client token.

Two differences from npm start, so the fuzz measures the API and not the Cloudflare allowance: the
simulator's 1,200-requests-per-5-minutes rule is off and the request budget is out of reach; and the
API's per-client limit is lifted. Postgres is a throwaway server (Debian's postgresql), or the embedded
PostgreSQL npm start runs with --embedded-postgres; TEMPORAL_ADDRESS and DATABASE_URL, when set, are used instead.
With --url and --token it fuzzes an instance that is already running.

Prints the requests by status and exits 1 on any 5xx, any failed check, or a /ready that does not
answer 200 afterwards (status 0 counts requests that got no answer). --max-examples (default 20) is
per operation and phase: about 600 requests at 5, 10,000 at about 900. Answers may take up to 5 minutes
(health, heal and verify wait for their workflow run).`;

/** A venv in the user's cache, like the Temporal CLI: built once per machine, pinned. */
function schemathesisBinary(log: (line: string) => void): string {
  const dir = path.join(
    process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'),
    'token-warden',
    'schemathesis',
  );
  const bin = path.join(dir, 'bin', 'schemathesis');
  const installed = existsSync(bin) ? spawnSync(bin, ['--version'], { encoding: 'utf8' }).stdout : '';
  if (installed.includes(SCHEMATHESIS_VERSION)) return bin;
  const python = ['python3', 'python'].find((candidate) => spawnSync(candidate, ['--version']).status === 0);
  if (!python) throw new Error('Python 3 is needed for Schemathesis (Debian: apt-get install python3 python3-venv)');
  log(`installing Schemathesis ${SCHEMATHESIS_VERSION} into ${dir} (once per machine)`);
  mkdirSync(path.dirname(dir), { recursive: true });
  const run = (file: string, args: string[]) => {
    const result = spawnSync(file, args, { stdio: ['ignore', 'inherit', 'inherit'] });
    if (result.status !== 0) throw new Error(`${file} ${args.join(' ')} failed (exit ${result.status})`);
  };
  run(python, ['-m', 'venv', '--clear', dir]);
  run(path.join(dir, 'bin', 'pip'), ['install', '--quiet', `schemathesis==${SCHEMATHESIS_VERSION}`]);
  return bin;
}

interface Target {
  url: string;
  token: string;
}

/**
 * src/main.ts's wiring, in this process: simulator, Temporal, Postgres, workers, API. What it
 * starts goes on `stops` as it starts, so an interrupt half-way still stops it.
 */
async function startTarget(
  dataDir: string,
  options: { embeddedPostgres: boolean },
  stops: Array<() => Promise<void> | void>,
  log: (line: string) => void,
): Promise<Target> {
  const token = randomBytes(32).toString('base64url');
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl && !options.embeddedPostgres) {
    const postgres = startTestPostgres(await freePort());
    stops.push(postgres.stop);
    databaseUrl = postgres.url;
  }
  const env: Record<string, string | undefined> = {
    ...process.env,
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    HOST: '127.0.0.1',
    PORT: '0',
    SIMULATOR_PORT: '0',
    TEMPORAL_PORT: String(await freePort()),
    TEMPORAL_UI_PORT: String(await freePort()),
    POSTGRES_PORT: String(await freePort()),
    CLIENT_AUTH_TOKEN: token,
    API_RATE_LIMIT_PER_MINUTE: '1000000',
    CLOUDFLARE_REQUESTS_PER_5_MIN: '1000000',
  };
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn', 'token-warden-fuzz-target');
  installTemporalLogger(logger.child({ component: 'temporal' }));
  const runtime = await openRuntime(env, { local: true, logger });
  stops.push(() => runtime.close());
  // No 1,200-per-5-minutes rule, and no rate-limit headers: token-warden paces itself by those too.
  runtime.cloudflare.simulator?.rateLimit.configure({ enabled: false, headers: false });
  const clients = configuredApiClients(runtime.env, env);
  if (runtime.cloudflare.simulator)
    await adoptDemoCredentials(runtime.cloudflare.simulator, runtime.inventory, runtime.pending, runtime.stores);
  const workers = await startRuntimeWorkers(runtime);
  stops.push(() => workers.shutdown());
  const app = await buildRuntimeApp(runtime, clients);
  stops.push(() => app.close());
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  log(`token-warden (simulation mode, ${databaseUrl ? 'Postgres' : 'embedded PostgreSQL'}) up at ${url}`);
  return { url, token };
}

/** Schemathesis as a child (its replay cache in the work directory); this process keeps serving the API meanwhile. */
function runSchemathesis(bin: string, args: string[], cwd: string): Promise<number | null> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, SCHEMATHESIS_TELEMETRY: 'false' },
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
}

interface FuzzCounts {
  requests: number;
  byStatus: Record<string, number>;
  serverErrors: Array<{ method: string; url: string; status: number }>;
  slowest: Array<{ method: string; url: string; status: number; ms: number }>;
}

/** Every request Schemathesis sent, from its HAR report. */
function countRequests(harFile: string): FuzzCounts {
  const har = JSON.parse(readFileSync(harFile, 'utf8')) as {
    log: { entries: Array<{ time: number; request: { method: string; url: string }; response: { status: number } }> };
  };
  const byStatus: Record<string, number> = {};
  const serverErrors: FuzzCounts['serverErrors'] = [];
  for (const { request, response } of har.log.entries) {
    byStatus[response.status] = (byStatus[response.status] ?? 0) + 1;
    if (response.status >= 500)
      serverErrors.push({ method: request.method, url: request.url, status: response.status });
  }
  const slowest = har.log.entries
    .filter((e) => e.response.status > 0)
    .sort((a, b) => b.time - a.time)
    .slice(0, 3)
    .map((e) => ({
      method: e.request.method,
      url: e.request.url.split('?')[0] ?? '',
      status: e.response.status,
      ms: Math.round(e.time),
    }));
  return { requests: har.log.entries.length, byStatus, serverErrors, slowest };
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1) throw new Error(`--${name} must be a positive integer`);
  return parsed;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'max-examples': { type: 'string' },
      seed: { type: 'string' },
      workers: { type: 'string' },
      url: { type: 'string' },
      token: { type: 'string' },
      'embedded-postgres': { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (Boolean(values.url) !== Boolean(values.token)) throw new Error('--url and --token go together');
  const maxExamples = positiveInt('max-examples', values['max-examples'], 20);
  const seed = positiveInt('seed', values.seed, Date.now() % 100_000);
  const workers = positiveInt('workers', values.workers, 2);
  const log = (line: string) => process.stderr.write(`[fuzz ${new Date().toISOString().slice(11, 19)}] ${line}\n`);

  const schemathesis = schemathesisBinary(log);
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-fuzz-'));
  const stops: Array<() => Promise<void> | void> = [];
  // Once, whoever asks first (an interrupt or the end of the run); the other waits for the same.
  let stopping: Promise<void> | undefined;
  const stopAll = () =>
    (stopping ??= (async () => {
      for (const stop of stops.reverse())
        await Promise.resolve(stop()).catch((error: unknown) => log(`cleanup: ${String(error)}`));
    })());
  const interrupted = () => {
    log('interrupted: stopping');
    void stopAll().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  let passed = false;
  try {
    const target: Target = values.url
      ? { url: values.url.replace(/\/$/, ''), token: values.token! }
      : await startTarget(path.join(workDir, 'data'), { embeddedPostgres: values['embedded-postgres'] }, stops, log);
    const har = path.join(workDir, 'requests.har');
    const args = [
      'run',
      `${target.url}/docs/json`,
      '--url',
      target.url,
      '--checks',
      'all',
      '--header',
      `Authorization: Bearer ${target.token}`,
      '--max-examples',
      String(maxExamples),
      '--seed',
      String(seed),
      '--workers',
      String(workers),
      // Health, heal and verify answer when their workflow run ends, within its 5-minute bound (then 503).
      '--request-timeout',
      String(RUN_BOUND_SECONDS + 10),
      '--max-response-time',
      String(RUN_BOUND_SECONDS),
      '--generation-database',
      'none',
      '--report',
      'har',
      '--report-har-path',
      har,
      '--no-color',
    ];
    log(`schemathesis ${SCHEMATHESIS_VERSION}: --max-examples ${maxExamples} --seed ${seed} --workers ${workers}`);
    const started = Date.now();
    const exitCode = await runSchemathesis(schemathesis, args, workDir);
    const seconds = Math.round((Date.now() - started) / 1000);
    const counts = existsSync(har) ? countRequests(har) : { requests: 0, byStatus: {}, serverErrors: [], slowest: [] };
    const ready = await fetch(`${target.url}/ready`).then(
      (r) => r.status,
      (error: Error) => `unreachable (${error.message})`,
    );

    const lines = [
      '',
      `fuzz: ${counts.requests} requests in ${seconds} s (seed ${seed}, --max-examples ${maxExamples})`,
      `  by status: ${Object.entries(counts.byStatus)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([status, n]) => `${status} × ${n}`)
        .join(', ')}`,
      `  slowest: ${counts.slowest.map((e) => `${e.method} ${new URL(e.url).pathname} ${e.status} in ${e.ms} ms`).join('; ')}`,
      `  5xx: ${counts.serverErrors.length}`,
      ...counts.serverErrors.slice(0, 20).map((e) => `    ${e.status} ${e.method} ${e.url}`),
      `  schemathesis checks: ${exitCode === 0 ? 'passed' : `FAILED (exit ${exitCode})`}`,
      `  /ready afterwards: ${ready}`,
    ];
    passed =
      exitCode === 0 && counts.serverErrors.length === 0 && !counts.byStatus[0] && ready === 200 && counts.requests > 0;
    lines.push(`fuzz: ${passed ? 'PASSED' : 'FAILED'}`, '');
    process.stdout.write(lines.join('\n'));
    return passed ? 0 : 1;
  } finally {
    await stopAll();
    if (values.keep || !passed) log(`work directory kept: ${workDir}`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`fuzz failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
