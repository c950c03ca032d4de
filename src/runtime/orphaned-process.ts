import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * npm start's PostgreSQL and Temporal dev server outlive a token-warden killed with SIGKILL
 * (PostgreSQL runs in its own process group; the dev server is reparented), holding their data and
 * ports: the next start would fail. A server of ours whose parent is no longer a Node process
 * (reparented to init or a subreaper) is such an orphan and is stopped the way it stops cleanly,
 * so committed work stays. One whose parent is still a Node process belongs to another running
 * token-warden, which is refused with both pids.
 */

/** Whether a process exists (EPERM: it does, as another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function procText(pid: number, file: 'cmdline' | 'stat'): Promise<string | undefined> {
  try {
    return await readFile(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

/** A process's arguments, from /proc (empty once it is gone). */
export async function commandLine(pid: number): Promise<string[]> {
  return (await procText(pid, 'cmdline'))?.split('\0').filter(Boolean) ?? [];
}

/** Processes whose arguments hold `flag` immediately followed by `value` (e.g. `--db-filename F`). */
export async function processesWith(flag: string, value: string): Promise<number[]> {
  const pids = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry)).map(Number);
  const found: number[] = [];
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const args = await commandLine(pid);
    if (args.some((arg, i) => arg === flag && args[i + 1] === value)) found.push(pid);
  }
  return found;
}

/** The parent pid from /proc/<pid>/stat (the command name in parentheses may hold spaces). */
async function parentOf(pid: number): Promise<number | undefined> {
  const stat = await procText(pid, 'stat');
  const afterName = stat?.slice(stat.lastIndexOf(')') + 2).split(' ');
  return afterName ? Number(afterName[1]) : undefined;
}

async function waitForExit(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

export interface OrphanCheck {
  /** What the process is, for messages: "PostgreSQL", "the Temporal dev server". */
  what: string;
  /** What it holds, for the refusal: its data directory or file. */
  holding: string;
  /** The signal that stops it cleanly. */
  signal: NodeJS.Signals;
}

/** Stops `pid` if it is an orphan (see above); throws if a running Node process owns it. */
export async function stopIfOrphaned(pid: number, { what, holding, signal }: OrphanCheck): Promise<void> {
  const parent = await parentOf(pid);
  const parentCommand = parent && parent > 1 ? await commandLine(parent) : [];
  if (parentCommand[0] !== undefined && path.basename(parentCommand[0]) === 'node')
    throw new Error(
      `${holding} is in use by ${what} (pid ${pid}) of another running process (pid ${parent}): stop it, or use another DATA_DIR`,
    );
  process.kill(pid, signal);
  if (!(await waitForExit(pid, 30_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
}

/** npm start's PostgreSQL left running on `clusterDir`: stopped (fast shutdown), its pid returned. */
export async function stopOrphanedPostgres(clusterDir: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  // A stale pid file naming a reused pid is PostgreSQL's own business: only our server is touched.
  if (!(await commandLine(pid)).includes(clusterDir)) return undefined;
  await stopIfOrphaned(pid, { what: 'PostgreSQL', holding: clusterDir, signal: 'SIGINT' });
  return pid;
}

/** npm start's Temporal dev server left running on `dbFile`: stopped (SIGTERM), its pids returned. */
export async function stopOrphanedDevServer(dbFile: string): Promise<number[]> {
  const pids = await processesWith('--db-filename', dbFile);
  for (const pid of pids)
    await stopIfOrphaned(pid, { what: 'the Temporal dev server', holding: dbFile, signal: 'SIGTERM' });
  return pids;
}
