import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ConfigError, type Environment } from '../config';
import { parseKey, type EncryptionKeys } from './codec';

/**
 * The key that encrypts Temporal payloads and staged secrets. Production must set
 * TOKEN_WARDEN_ENCRYPTION_KEY; simulation mode generates one under DATA_DIR once and reuses it,
 * so history written by an earlier `npm start` stays readable.
 */
export function loadEncryptionKeys(env: Environment, options: { allowGenerated: boolean }): EncryptionKeys {
  const keys = new Map<string, Buffer>();
  const problems: string[] = [];
  for (const entry of (env.TOKEN_WARDEN_PREVIOUS_KEYS ?? '').split(',').filter(Boolean)) {
    const [id, value] = entry.split(':');
    try {
      if (!id || !value) throw new Error('expected "id:base64"');
      keys.set(id, parseKey(value, `TOKEN_WARDEN_PREVIOUS_KEYS entry "${id}"`));
    } catch (error) {
      problems.push(`environment: TOKEN_WARDEN_PREVIOUS_KEYS: ${(error as Error).message}`);
    }
  }
  if (env.TOKEN_WARDEN_ENCRYPTION_KEY) {
    try {
      keys.set(
        env.TOKEN_WARDEN_ENCRYPTION_KEY_ID,
        parseKey(env.TOKEN_WARDEN_ENCRYPTION_KEY, 'TOKEN_WARDEN_ENCRYPTION_KEY'),
      );
    } catch (error) {
      problems.push(`environment: TOKEN_WARDEN_ENCRYPTION_KEY: ${(error as Error).message}`);
    }
  } else if (options.allowGenerated) {
    keys.set(env.TOKEN_WARDEN_ENCRYPTION_KEY_ID, devKey(env.DATA_DIR));
  } else {
    problems.push(
      'environment: TOKEN_WARDEN_ENCRYPTION_KEY: required (base64 of 32 random bytes, e.g. `openssl rand -base64 32`)',
    );
  }
  if (problems.length) throw new ConfigError(problems);
  return { currentKeyId: env.TOKEN_WARDEN_ENCRYPTION_KEY_ID, keys };
}

function devKey(dataDir: string): Buffer {
  const file = path.join(dataDir, 'dev-encryption.key');
  if (existsSync(file)) return parseKey(readFileSync(file, 'utf8').trim(), file);
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32);
  writeFileSync(file, `${key.toString('base64')}\n`, { mode: 0o600, flag: 'wx' });
  return key;
}
