import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { API_TOKEN_NAMES } from './api-token-rotate-config';
import { parseCredentialFile } from './stores/file-format';

/** Where a secret comes from: an environment variable or a file; never the value itself. */
export const secretSourceSchema = z.union([
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

export type SecretSource = z.infer<typeof secretSourceSchema>;

/** Reads a secret source from the given environment; undefined when it is not there. */
export function readSecret(
  source: SecretSource,
  env: Readonly<Record<string, string | undefined>>,
): string | undefined {
  if ('env' in source) return env[source.env] || undefined;
  try {
    return tokenInFile(readFileSync(source.file, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * The token a file holds: the whole text, or the CLOUDFLARE_API_TOKEN key of a dotenv or JSON
 * file (what a `file` target of an API token writes), so a token's `secretFrom` can name the
 * file its rotation writes.
 */
export function tokenInFile(text: string): string | undefined {
  const trimmed = text.trim();
  const format = trimmed.startsWith('{') ? 'json' : TOKEN_KEY_LINE.test(trimmed) ? 'env' : undefined;
  if (!format) return trimmed || undefined;
  try {
    return parseCredentialFile(trimmed, format, API_TOKEN_NAMES).clientSecret || undefined;
  } catch {
    return undefined;
  }
}

const TOKEN_KEY_LINE = new RegExp(`^\\s*(?:export\\s+)?${API_TOKEN_NAMES.clientSecret}\\s*=`, 'm');
