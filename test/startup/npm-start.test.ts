import { execFile, spawn, type ChildProcess } from 'node:child_process';
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/paths';
import { freePort, isPortOpen } from '../../src/temporal/dev-server';

const execFileAsync = promisify(execFile);

/** A libpq tool: PATH first, then Debian's versioned directories. */
function pgTool(name: string): string {
  const dirs = [
    ...(process.env.PATH ?? '').split(path.delimiter),
    ...readdirSync('/usr/lib/postgresql', { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => path.join('/usr/lib/postgresql', entry.name, 'bin'))
      .sort()
      .reverse(),
  ];
  for (const dir of dirs) {
    try {
      accessSync(path.join(dir, name), constants.X_OK);
      return path.join(dir, name);
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} not found: install Debian's postgresql-client (bash .ci/run does)`);
}

/** Every live process under `pid`, from /proc (the Temporal dev server, PostgreSQL and its backends...). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // gone meanwhile
    }
  }
  const found: number[] = [];
  const walk = (parent: number) => {
    for (const child of children.get(parent) ?? []) {
      found.push(child);
      walk(child);
    }
  };
  walk(pid);
  return found;
}

function alive(pid: number): boolean {
  try {
    // A zombie has exited; only its entry waits for its parent.
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z ');
  } catch {
    return false;
  }
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`${what} not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

interface Started {
  npm: ChildProcess;
  output: string[];
  exited: Promise<number | null>;
  msToReady: number;
  databaseUrl: string;
}

/** `npm start` as CI runs it: no terminal, so JSON logs; the summary block is plain text. */
async function npmStart(env: Record<string, string>, apiUrl: string): Promise<Started> {
  const began = Date.now();
  const npm = spawn('npm', ['start'], { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const stream of [npm.stdout, npm.stderr])
    readline.createInterface({ input: stream! }).on('line', (line) => output.push(line));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  let gone = false;
  void exited.then(() => (gone = true));
  await waitFor('/ready', async () => (gone ? false : (await fetch(`${apiUrl}/ready`)).ok || undefined), 120_000)
    .then((ready) => {
      if (!ready) throw new Error('npm start exited before it was ready');
    })
    .catch((error: Error) => {
      throw new Error(`${error.message}\n${output.join('\n')}`);
    });
  const msToReady = Date.now() - began;
  const databaseUrl = await waitFor(
    'the summary',
    async () => output.map((line) => /Postgres \(embedded\)\s+(\S+)/.exec(line)?.[1]).find(Boolean),
    10_000,
  );
  return { npm, output, exited, msToReady, databaseUrl };
}

describe('npm start', () => {
  let dataDir: string;
  let env: Record<string, string>;
  let ports: number[];
  let apiUrl: string;
  let running: Started | undefined;

  beforeAll(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tw-npm-start-'));
    ports = [await freePort(), await freePort(), await freePort(), await freePort(), await freePort()];
    const [api, temporal, temporalUi, simulator, postgres] = ports.map(String);
    apiUrl = `http://127.0.0.1:${api}`;
    // Only what an operator would set: nothing of the test run's own servers leaks in.
    env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.homedir(),
      DATA_DIR: dataDir,
      PORT: api!,
      TEMPORAL_PORT: temporal!,
      TEMPORAL_UI_PORT: temporalUi!,
      SIMULATOR_PORT: simulator!,
      POSTGRES_PORT: postgres!,
      ...(process.env.TEMPORAL_CLI_PATH ? { TEMPORAL_CLI_PATH: process.env.TEMPORAL_CLI_PATH } : {}),
    };
  });
  afterAll(() => {
    if (running?.npm.pid)
      for (const pid of [running.npm.pid, ...descendants(running.npm.pid)]) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }, 30_000);

  async function stopWithSigterm(started: Started): Promise<void> {
    const pids = [started.npm.pid!, ...descendants(started.npm.pid!)];
    // npm start, node, the Temporal dev server, PostgreSQL's postmaster and its backends.
    expect(pids.length).toBeGreaterThanOrEqual(4);
    process.kill(started.npm.pid!, 'SIGTERM');
    expect(await started.exited).toBe(0);
    running = undefined;
    await waitFor('every process gone', async () => pids.every((pid) => !alive(pid)) || undefined, 20_000).catch(() => {
      throw new Error(`still running after SIGTERM to npm: ${pids.filter(alive).join(', ')}`);
    });
    for (const port of ports) expect(await isPortOpen(port)).toBe(false);
  }

  it('serves the product, lets pg_dump read the printed database URL without disturbing it, and stops on SIGTERM', async () => {
    running = await npmStart(env, apiUrl);
    const cold = running;
    const summary = cold.output.join('\n');
    expect(summary).toContain('token-warden is ready');
    expect(summary).toMatch(new RegExp(`Temporal \\(gRPC\\)\\s+127\\.0\\.0\\.1:${env.TEMPORAL_PORT}`));
    // The printed URL carries no password: libpq reads it from the passfile the URL names.
    expect(cold.databaseUrl).not.toContain(
      ':' + readFileSync(path.join(dataDir, 'postgres.pgpass'), 'utf8').split(':')[4]?.trim(),
    );
    expect(statSync(path.join(dataDir, 'postgres.pgpass')).mode & 0o777).toBe(0o600);

    const dump = await execFileAsync(pgTool('pg_dump'), ['--dbname', cold.databaseUrl], { maxBuffer: 64 << 20 });
    expect(dump.stdout).toContain('CREATE TABLE public.rotations');
    const psql = await execFileAsync(pgTool('psql'), [
      '-At',
      '-c',
      'SHOW search_path',
      '-c',
      'SHOW listen_addresses',
      cold.databaseUrl,
    ]);
    expect(psql.stdout.trim().split('\n')).toEqual(['"$user", public', '127.0.0.1']);
    // A password is required and checked: without the passfile, and with a wrong one, no session.
    const wrongPassFile = path.join(dataDir, 'wrong.pgpass');
    writeFileSync(wrongPassFile, '*:*:*:postgres:not-the-password\n', { mode: 0o600 });
    for (const url of [
      cold.databaseUrl.replace(/\?.*$/, ''),
      cold.databaseUrl.replace(/passfile=[^&]+/, `passfile=${wrongPassFile}`),
    ])
      await expect(
        execFileAsync(pgTool('psql'), ['-w', '-At', '-c', 'SELECT 1', url], {
          env: { PATH: env.PATH!, HOME: dataDir },
        }),
      ).rejects.toThrow(/password/);

    // The seed's REST checks, several at once, after the dump.
    const token = readFileSync(path.join(dataDir, 'client-auth-token'), 'utf8').trim();
    const answers = await Promise.all([
      fetch(`${apiUrl}/health`),
      ...Array.from({ length: 6 }, () =>
        fetch(`${apiUrl}/tokens/status`, { headers: { authorization: `Bearer ${token}` } }),
      ),
    ]);
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 200, 200, 200, 200, 200]);
    // They join one check of the fleet rather than each starting one.
    const bodies = (await Promise.all(answers.slice(1).map((answer) => answer.json()))) as Array<{
      success: boolean;
      data: { workflow_id: string };
    }>;
    expect(bodies.every((body) => body.success)).toBe(true);
    expect(new Set(bodies.map((body) => body.data.workflow_id)).size).toBe(1);

    await stopWithSigterm(cold);

    // Again on the same DATA_DIR: the same password file, the data kept.
    running = await npmStart(env, apiUrl);
    const warm = running;
    expect(warm.databaseUrl).toBe(cold.databaseUrl);
    const migrations = await execFileAsync(pgTool('psql'), [
      '-At',
      '-c',
      'SELECT count(*) FROM pgmigrations',
      warm.databaseUrl,
    ]);
    expect(Number(migrations.stdout.trim())).toBeGreaterThan(0);
    await stopWithSigterm(warm);

    const printed = (started: Started) =>
      started.output.map((line) => /token-warden is ready \(([\d.]+ s) after start\)/.exec(line)?.[1]).find(Boolean);
    process.stdout.write(
      `npm start to /ready: cold ${(cold.msToReady / 1000).toFixed(1)} s (it printed ${printed(cold)}), warm ${(warm.msToReady / 1000).toFixed(1)} s (it printed ${printed(warm)})\n`,
    );
  }, 300_000);
});
