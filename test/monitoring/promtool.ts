import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Built the way .ci/run builds it (and the Temporal CLI), cached outside the repository. */
export const PROMTOOL_INSTALL =
  'CGO_ENABLED=0 GOBIN=~/.cache/token-warden/bin go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0';

const CACHED = path.join(os.homedir(), '.cache', 'token-warden', 'bin', 'promtool');

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `promtool` from PATH, else the cached build. Missing, the monitoring tests fail with the
 * command that builds it rather than skip: rules nobody tested are what this suite prevents.
 */
export function resolvePromtool(searchPath = process.env.PATH ?? ''): string {
  const found = [
    ...searchPath
      .split(path.delimiter)
      .filter(Boolean)
      .map((dir) => path.join(dir, 'promtool')),
    CACHED,
  ].find(isExecutable);
  if (!found)
    throw new Error(
      `promtool not found on PATH or at ${CACHED}; build it with:\n  ${PROMTOOL_INSTALL}\n(bash .ci/run does this when it is missing)`,
    );
  return found;
}

export interface PromtoolResult {
  status: number | null;
  output: string;
}

/** Runs `promtool <args>`; `input` goes to its stdin (`check metrics` reads the exposition there). */
export function promtool(args: readonly string[], options: { input?: string; cwd?: string } = {}): PromtoolResult {
  const result = spawnSync(resolvePromtool(), args, {
    input: options.input,
    cwd: options.cwd,
    encoding: 'utf8',
    timeout: 60_000,
  });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}
