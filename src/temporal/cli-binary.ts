import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Newest tag `go install` accepts: later ones carry a replace directive and are refused. */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';

export type TemporalCli =
  { type: 'path'; path: string; source: 'env' | 'path' | 'cache' | 'built' } | { type: 'download' };

export interface ResolveOptions {
  /** TEMPORAL_CLI_PATH, when set. */
  explicitPath?: string;
  /** PATH to search; defaults to this process's. */
  searchPath?: string;
  cacheDir?: string;
  log?: (line: string) => void;
}

export function defaultCacheDir(): string {
  return path.join(os.homedir(), '.cache', 'token-warden');
}

export function cachedCliPath(cacheDir = defaultCacheDir()): string {
  return path.join(cacheDir, 'bin', 'temporal');
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function findOnPath(name: string, searchPath: string): string | undefined {
  return searchPath
    .split(path.delimiter)
    .filter(Boolean)
    .map((dir) => path.join(dir, name))
    .find(isExecutable);
}

/**
 * Finds a `temporal` CLI: TEMPORAL_CLI_PATH, then PATH, then a cached build, then a fresh
 * `go install` into the cache when Go is present, else the SDK's own download.
 */
export async function resolveTemporalCli(options: ResolveOptions = {}): Promise<TemporalCli> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const searchPath = options.searchPath ?? process.env.PATH ?? '';
  if (options.explicitPath) {
    if (!isExecutable(options.explicitPath))
      throw new Error(`TEMPORAL_CLI_PATH=${options.explicitPath} is not an executable file`);
    return { type: 'path', path: options.explicitPath, source: 'env' };
  }
  const onPath = findOnPath('temporal', searchPath);
  if (onPath) return { type: 'path', path: onPath, source: 'path' };
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const cached = cachedCliPath(cacheDir);
  if (isExecutable(cached)) return { type: 'path', path: cached, source: 'cache' };
  const go = findOnPath('go', searchPath);
  if (go) {
    await buildTemporalCli(go, cacheDir, log);
    return { type: 'path', path: cached, source: 'built' };
  }
  log('No temporal CLI and no Go toolchain: the Temporal SDK will download a dev server.');
  return { type: 'download' };
}

/** `go install` into `<cacheDir>/bin`, printing progress so a newcomer knows why they wait. */
export async function buildTemporalCli(go: string, cacheDir: string, log: (line: string) => void): Promise<void> {
  const binDir = path.join(cacheDir, 'bin');
  mkdirSync(binDir, { recursive: true });
  log(`Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${binDir}.`);
  log('This happens once per machine and takes about 4 minutes; later starts reuse it.');
  const started = Date.now();
  const ticker = setInterval(
    () => log(`  ...still building the Temporal CLI (${Math.round((Date.now() - started) / 1000)} s)`),
    30_000,
  );
  try {
    await new Promise<void>((resolve, reject) => {
      const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], {
        env: { ...process.env, CGO_ENABLED: '0', GOBIN: binDir, GOFLAGS: '-mod=mod' },
        stdio: ['ignore', 'inherit', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        const lines = chunk
          .toString()
          .split('\n')
          .filter((l) => l.startsWith('go: downloading'));
        if (lines.length)
          log(`  ${lines.length} module(s) downloading, e.g. ${lines[0]!.replace('go: downloading ', '')}`);
      });
      child.on('error', reject);
      child.on('exit', (code) =>
        code === 0
          ? resolve()
          : reject(new Error(`go install ${TEMPORAL_CLI_MODULE} failed (exit ${code}):\n${stderr.slice(-2000)}`)),
      );
    });
  } finally {
    clearInterval(ticker);
  }
  log(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)} s.`);
}

export function cliVersion(cliPath: string): string {
  const result = spawnSync(cliPath, ['--version'], { encoding: 'utf8' });
  return (result.stdout || result.stderr).trim();
}
