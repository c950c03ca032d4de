import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Simulation mode without CLIENT_AUTH_TOKEN: one generated API client token, kept under
 * DATA_DIR (mode 0600) so curl commands keep working across restarts.
 */
export function localClientToken(dataDir: string): string {
  const file = path.resolve(dataDir, 'client-auth-token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dataDir, { recursive: true });
  const token = randomBytes(24).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return token;
}
