import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The validators of the deployment files, installed by tools/deploy-validators/install.sh (which
 * .ci/run calls) into the cache outside the repository. Missing, the tests fail naming the
 * command that installs them rather than skip: files nobody validated are what they prevent.
 */
export const CACHE_DIR = process.env.TOKEN_WARDEN_CACHE_DIR ?? path.join(os.homedir(), '.cache', 'token-warden');
export const INSTALL = 'bash tools/deploy-validators/install.sh';
/** Kept in step with install.sh, which extracts these schema versions. */
export const KUBERNETES_VALIDATE_VERSION = '1.37.0';
export const KUBERNETES_VERSIONS = ['1.35.0', '1.37.0'];

function installed(file: string): string {
  try {
    accessSync(file, constants.X_OK);
    return file;
  } catch {
    throw new Error(`${file} is missing; install it with:\n  ${INSTALL}\n(bash .ci/run does this)`);
  }
}

export const composeValidate = () => installed(path.join(CACHE_DIR, 'bin', 'compose-validate'));
export const kubeconform = () => installed(path.join(CACHE_DIR, 'bin', 'kubeconform'));
/** Temporal's schema tool (the one in the admin-tools image), built at install.sh's TEMPORAL_SERVER_VERSION. */
export const temporalSqlTool = () => installed(path.join(CACHE_DIR, 'bin', 'temporal-sql-tool'));

/** kubeconform's -schema-location for the offline schemas install.sh prepared. */
export function kubernetesSchemaLocation(): string {
  const dir = path.join(CACHE_DIR, 'kubernetes-schemas', `kubernetes-validate-${KUBERNETES_VALIDATE_VERSION}`);
  if (!existsSync(path.join(dir, '.complete')))
    throw new Error(`no Kubernetes schemas at ${dir}; install them with:\n  ${INSTALL}`);
  return path.join(dir, '{{.NormalizedKubernetesVersion}}-local-strict', '{{.ResourceKind}}{{.KindSuffix}}.json');
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a validator with exactly `env` (and PATH): nothing from the developer's shell leaks in. */
export function run(file: string, args: readonly string[], env: Record<string, string> = {}): RunResult {
  const result = spawnSync(file, args, {
    encoding: 'utf8',
    timeout: 60_000,
    env: { PATH: process.env.PATH ?? '', HOME: os.homedir(), ...env },
  });
  if (result.error) throw result.error;
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
