import type { FileTarget, ServiceTokenCredential } from './store-types';

type Format = FileTarget['format'];
type Keys = FileTarget['keys'];

export interface CredentialHalves {
  clientId: string | undefined;
  clientSecret: string | undefined;
}

/** The file holds something we must not overwrite blindly (say, JSON that is not an object). */
export class FileFormatError extends Error {
  override readonly name = 'FileFormatError';
}

export function parseCredentialFile(text: string, format: Format, keys: Keys): CredentialHalves {
  const values = format === 'json' ? parseJsonObject(text) : parseEnv(text);
  const read = (key: string) => {
    const value = values[key];
    return typeof value === 'string' ? value : undefined;
  };
  return { clientId: read(keys.clientId), clientSecret: read(keys.clientSecret) };
}

/** The new file text: our two keys set, every other key, line and comment kept as it was. */
export function renderCredentialFile(
  existing: string | null,
  format: Format,
  keys: Keys,
  credential: ServiceTokenCredential,
): string {
  const updates = new Map([
    [keys.clientId, credential.clientId],
    [keys.clientSecret, credential.clientSecret],
  ]);
  if (format === 'json') {
    const object = existing === null ? {} : parseJsonObject(existing);
    return `${JSON.stringify({ ...object, ...Object.fromEntries(updates) }, null, 2)}\n`;
  }
  return renderEnv(existing ?? '', updates);
}

const ENV_LINE = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=\s*(.*?)\s*$/;

function parseEnv(text: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const match = ENV_LINE.exec(line);
    if (match?.[1] !== undefined && match[2] !== undefined) values[match[1]] = parseEnvValue(match[2]);
  }
  return values;
}

function parseEnvValue(raw: string): string {
  if (raw.startsWith('"') && raw.endsWith('"') && raw.length >= 2) {
    try {
      const value: unknown = JSON.parse(raw);
      if (typeof value === 'string') return value;
    } catch {
      // not JSON-escaped: take the text between the quotes as it is
    }
    return raw.slice(1, -1);
  }
  if (raw.startsWith("'") && raw.endsWith("'") && raw.length >= 2) return raw.slice(1, -1);
  const comment = raw.search(/\s#/);
  return comment === -1 ? raw : raw.slice(0, comment).trimEnd();
}

function renderEnv(existing: string, updates: ReadonlyMap<string, string>): string {
  const pending = new Map(updates);
  const lines: string[] = [];
  for (const line of existing.split(/\r?\n/)) {
    const key = ENV_LINE.exec(line)?.[1];
    if (key !== undefined && updates.has(key)) {
      const value = pending.get(key);
      // The first line of a key takes the new value; later duplicates would shadow it, so go.
      if (value !== undefined) lines.push(`${key}=${quoteEnvValue(value)}`);
      pending.delete(key);
    } else {
      lines.push(line);
    }
  }
  while (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const [key, value] of pending) lines.push(`${key}=${quoteEnvValue(value)}`);
  return `${lines.join('\n')}\n`;
}

function quoteEnvValue(value: string): string {
  return /^[A-Za-z0-9._~+/=:@-]*$/.test(value) ? value : JSON.stringify(value);
}

function parseJsonObject(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FileFormatError('the file is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FileFormatError('the file holds JSON that is not an object');
  }
  return { ...value };
}
