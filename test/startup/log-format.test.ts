import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { PROJECT_ROOT } from '../../src/paths';

const execFileAsync = promisify(execFile);

/** What a process using createLogger writes to its stdout, as a separate real process. */
async function logged(env: Record<string, string>): Promise<string> {
  const script = `
    const { createLogger } = require(${JSON.stringify(path.join(PROJECT_ROOT, 'src', 'logger.ts'))});
    createLogger('info').info({ phase: 'Postgres', ms: 812, apiToken: 'tok-SECRET-1', nested: { clientSecret: 'cs-SECRET-2' } }, 'Postgres ready in 0.8 s');
  `;
  const { stdout } = await execFileAsync(process.execPath, ['--import', 'tsx', '-e', script], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  return stdout;
}

describe('log format', () => {
  it('writes one JSON object per line where no person is reading (no terminal)', async () => {
    const line = JSON.parse((await logged({})).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'Postgres ready in 0.8 s', phase: 'Postgres', ms: 812, level: 30 });
    expect(JSON.stringify(line)).not.toMatch(/SECRET/);
  });

  it('writes a readable line when asked (as on a terminal), secrets still redacted', async () => {
    const output = await logged({ LOG_FORMAT: 'pretty' });
    expect(output.trim().split('\n')).toHaveLength(1);
    expect(output).toMatch(/^\[\d\d:\d\d:\d\d\] INFO: Postgres ready in 0\.8 s /);
    expect(output).not.toMatch(/SECRET|"level"|"pid"/);
    expect(output).toContain('[redacted]');
  });
});
