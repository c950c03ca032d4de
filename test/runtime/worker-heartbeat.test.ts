import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, utimesSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { HEARTBEAT_MAX_AGE_MS, heartbeatProblem, startWorkerHeartbeat } from '../../src/runtime/worker-heartbeat';

const root = path.resolve(__dirname, '../..');

/** The probe as Kubernetes and docker-compose run it (from source here, through tsx), in `tmp`. */
function probe(tmp: string) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, 'src/worker-probe.ts')], {
    cwd: root,
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH ?? '', TMPDIR: tmp },
  });
  if (result.error) throw result.error;
  return { status: result.status, stderr: result.stderr };
}

describe('the worker heartbeat and its probe', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'tw-heartbeat-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('passes while the worker touches the file, and fails once it stopped, naming why', () => {
    const file = path.join(tmp, 'token-warden-worker.alive');
    expect(probe(tmp)).toEqual({ status: 1, stderr: expect.stringContaining(`no heartbeat at ${file}`) });

    const heartbeat = startWorkerHeartbeat({ file });
    try {
      expect(heartbeatProblem(file)).toBeUndefined();
      expect(probe(tmp)).toEqual({ status: 0, stderr: '' });
    } finally {
      heartbeat.stop();
    }
    expect(existsSync(file)).toBe(false);
    expect(probe(tmp).status).toBe(1);
  });

  it('fails when the file is older than the allowed age: a stuck process stops touching it', () => {
    const file = path.join(tmp, 'token-warden-worker.alive');
    const heartbeat = startWorkerHeartbeat({ file, intervalMs: 3_600_000 });
    try {
      const stale = (Date.now() - HEARTBEAT_MAX_AGE_MS - 5_000) / 1000;
      utimesSync(file, stale, stale);
      expect(heartbeatProblem(file)).toMatch(/^the last heartbeat at .* is \d+ s old$/);
      const result = probe(tmp);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/is \d+ s old/);
    } finally {
      heartbeat.stop();
    }
  });
});
