import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// `npm run simulator` runs from the repository root, through the workspace's hoisted tsx.
const REPO_ROOT = path.resolve(__dirname, '../../..');
const TSX = path.join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
const CLI = path.resolve(__dirname, '../src/cli.ts');

let child: ChildProcess | undefined;
let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cf-sim-cli-'));
});

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Starts the CLI the way `npm run simulator -- …` does and resolves once it printed its env lines. */
function startCli(args: string[]): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(TSX, [CLI, ...args], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    let err = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('CLOUDFLARE_SIM_ADMIN_URL=')) {
        const env = Object.fromEntries(
          out
            .split('\n')
            .filter((line) => /^[A-Z_]+=/.test(line))
            .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
        );
        resolve(env);
      }
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    proc.on('exit', (code) => reject(new Error(`simulator exited early (${code}): ${err}`)));
  });
}

function exitCode(proc: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => proc.on('exit', (code) => resolve(code)));
}

describe('simulator CLI', () => {
  it('prints shell-ready env lines that work, and closes cleanly on SIGINT', async () => {
    const env = await startCli(['--port', '0', '--state', path.join(dir, 'state.json')]);
    expect(env['CLOUDFLARE_BASE_URL']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/client\/v4$/);
    expect(env['CLOUDFLARE_ACCOUNT_ID']).toMatch(/^[0-9a-f]{32}$/);
    expect(env['CLOUDFLARE_SIM_PROBE_URL']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/probe\/[0-9a-f-]{36}$/);

    const verify = await fetch(`${env['CLOUDFLARE_BASE_URL']}/user/tokens/verify`, {
      headers: { authorization: `Bearer ${env['CLOUDFLARE_API_TOKEN']}` },
    });
    expect(verify.status).toBe(200);
    const probe = await fetch(env['CLOUDFLARE_SIM_PROBE_URL'] ?? '', {
      headers: {
        'CF-Access-Client-Id': env['CF_ACCESS_CLIENT_ID'] ?? '',
        'CF-Access-Client-Secret': env['CF_ACCESS_CLIENT_SECRET'] ?? '',
      },
    });
    expect(probe.status).toBe(200);

    const proc = child;
    if (!proc) throw new Error('no child');
    const exited = exitCode(proc);
    proc.kill('SIGINT');
    expect(await exited).toBe(0);
  });
});
