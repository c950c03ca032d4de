import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Environment, type Inventory } from '../config';
import { tokenInFile } from '../secret-source';

/** token-warden's own Cloudflare token, as the process should use it now. */
export interface WardenToken {
  current(): string;
  /** Where it comes from, for messages: never the value. */
  where: string;
  /** The file it is re-read from; absent when it came from the environment (fixed until a restart). */
  file?: string;
}

export const fixedWardenToken = (value: string, where = 'CLOUDFLARE_API_TOKEN'): WardenToken => ({
  current: () => value,
  where,
});

/**
 * The token in CLOUDFLARE_API_TOKEN_FILE, re-read whenever the file changes (one `stat` per use):
 * when token-warden rotates its own token (`self: true`) or a mounted Kubernetes Secret is
 * updated, every worker switches without a restart. A file that is briefly missing or empty keeps
 * the last value it held: a working credential is never swapped for none.
 */
export function wardenTokenFromFile(file: string): WardenToken {
  const absolute = path.resolve(file);
  let seen = '';
  let value: string | undefined;
  const current = (): string => {
    try {
      const stat = statSync(absolute);
      const version = `${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      if (version !== seen) {
        const read = tokenInFile(readFileSync(absolute, 'utf8'));
        if (read) value = read;
        seen = version;
      }
    } catch {
      // unreadable for now: the last value stays in use
    }
    if (!value) throw new ConfigError([`CLOUDFLARE_API_TOKEN_FILE: no token in ${absolute}`]);
    return value;
  };
  current();
  return { current, where: `file ${absolute} (CLOUDFLARE_API_TOKEN_FILE)`, file: absolute };
}

/** token-warden's own token as the environment configures it; undefined: none (simulation). */
export function configuredWardenToken(env: Environment): WardenToken | undefined {
  if (env.CLOUDFLARE_API_TOKEN && env.CLOUDFLARE_API_TOKEN_FILE)
    throw new ConfigError([
      'environment: CLOUDFLARE_API_TOKEN and CLOUDFLARE_API_TOKEN_FILE are both set: set one (the file, to let token-warden rotate its own token)',
    ]);
  if (env.CLOUDFLARE_API_TOKEN_FILE) return wardenTokenFromFile(env.CLOUDFLARE_API_TOKEN_FILE);
  return env.CLOUDFLARE_API_TOKEN ? fixedWardenToken(env.CLOUDFLARE_API_TOKEN) : undefined;
}

/**
 * An inventory token marked `self: true` is the one token-warden runs on: it must be read from the
 * file token-warden re-reads, and its rotation must be able to write that file (a `file` target
 * at the same path, or a Kubernetes Secret mounted there, which verify checks on every run).
 */
export function checkSelfToken(inventory: Inventory, warden: WardenToken): void {
  const self = inventory.accounts.flatMap((a) => a.apiTokens).find((t) => t.self);
  if (!self) return;
  const at = `inventory: API token ${self.name}: self`;
  if (!warden.file)
    throw new ConfigError([
      `${at}: token-warden reads its own token from ${warden.where}, which only a restart changes: set CLOUDFLARE_API_TOKEN_FILE instead`,
    ]);
  if (!('file' in self.secretFrom) || path.resolve(self.secretFrom.file) !== warden.file)
    throw new ConfigError([`${at}: secretFrom must be { file: ${warden.file} } (CLOUDFLARE_API_TOKEN_FILE)`]);
  const targets = (self.rotate?.targets ?? []) as { kind: string; path?: string }[];
  const reaches = targets.some(
    (t) => t.kind === 'kubernetes' || (t.kind === 'file' && t.path && path.resolve(t.path) === warden.file),
  );
  if (self.rotate && !reaches)
    throw new ConfigError([
      `${at}: no rotate target writes ${warden.file}: add a file target with that path, or a kubernetes target whose Secret is mounted there`,
    ]);
}
