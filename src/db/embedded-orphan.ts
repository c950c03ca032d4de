import { readFile } from 'node:fs/promises';
import path from 'node:path';

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

/**
 * The server runs in its own process group, so a token-warden killed with SIGKILL leaves it
 * running, holding the cluster and the port: the next start would fail. A server of this cluster
 * whose parent is no longer a Node process (reparented to init or a subreaper) is such an orphan
 * and is shut down (fast shutdown: committed work stays). One whose parent is still a Node
 * process belongs to another running token-warden, which is refused with its pid.
 */
export async function stopOrphanedServer(clusterDir: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(path.join(clusterDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return undefined;
  // A stale pid file naming a reused pid is PostgreSQL's own business: only our server is touched.
  const command = (await procText(pid, 'cmdline'))?.split('\0') ?? [];
  if (!command.includes(clusterDir)) return undefined;
  const parent = await parentOf(pid);
  const parentCommand = parent && parent > 1 ? ((await procText(parent, 'cmdline')) ?? '') : '';
  if (/(^|\/)node\0/.test(parentCommand))
    throw new Error(
      `${clusterDir} is in use by PostgreSQL (pid ${pid}) of another running process (pid ${parent}): stop it, or use another DATA_DIR`,
    );
  process.kill(pid, 'SIGINT');
  if (!(await waitForExit(pid, 30_000))) {
    process.kill(pid, 'SIGKILL');
    await waitForExit(pid, 5_000);
  }
  return pid;
}
