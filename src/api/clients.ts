import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../config';
import { readSecret, secretSourceSchema } from '../secret-source';

/**
 * What a client may do. `read`: GET anything; `check`: start API-token checks (verify,
 * health, status); `heal`: add permissions; `rotate`, `revoke`: service tokens; `codec`: the
 * Temporal UI's payload decoding. `*` is all of them.
 */
export const SCOPES = ['read', 'check', 'heal', 'rotate', 'revoke', 'codec'] as const;
export type Scope = (typeof SCOPES)[number];

const rateLimitSchema = z.strictObject({
  max: z.number().int().positive(),
  perSeconds: z.number().int().positive().default(60),
});

/** API_CLIENTS_FILE: clients by bearer token or Cloudflare Access service-token headers. */
export const apiClientsFileSchema = z.strictObject({
  clients: z
    .array(
      z
        .strictObject({
          name: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore'),
          bearerFrom: secretSourceSchema.optional(),
          access: z.strictObject({ clientId: z.string().min(1), secretFrom: secretSourceSchema }).optional(),
          scopes: z.array(z.enum([...SCOPES, '*'])).min(1),
          rateLimit: rateLimitSchema.optional(),
        })
        .refine((c) => Boolean(c.bearerFrom) !== Boolean(c.access), 'give exactly one of bearerFrom or access'),
    )
    .min(1),
});

export interface ApiClient {
  name: string;
  /** `Authorization: Bearer <token>` */
  token?: string;
  /** `CF-Access-Client-Id` / `CF-Access-Client-Secret` */
  access?: { clientId: string; clientSecret: string };
  scopes: ReadonlyArray<Scope | '*'>;
  rateLimit?: { max: number; perSeconds: number };
}

/**
 * The shortest client token or Access secret the API accepts: a guessable token would make the
 * per-address limit on failed authentications the only defence (`openssl rand -base64 32` gives 44).
 */
export const MIN_CLIENT_TOKEN_LENGTH = 32;

const tooShort = (secret: string) => secret.length < MIN_CLIENT_TOKEN_LENGTH;
const TOO_SHORT = `must be at least ${MIN_CLIENT_TOKEN_LENGTH} characters (generate one with: openssl rand -base64 32)`;

/** CLIENT_AUTH_TOKEN (the seed's single client) plus API_CLIENT_TOKENS "name:token,...": full scope. */
export function apiClientsFromEnvironment(env: {
  CLIENT_AUTH_TOKEN?: string;
  API_CLIENT_TOKENS?: string;
}): ApiClient[] {
  const clients: ApiClient[] = [];
  const problems: string[] = [];
  if (env.CLIENT_AUTH_TOKEN) {
    if (tooShort(env.CLIENT_AUTH_TOKEN))
      problems.push(`environment: CLIENT_AUTH_TOKEN: ${TOO_SHORT}; it has ${env.CLIENT_AUTH_TOKEN.length}`);
    clients.push({ name: 'default', token: env.CLIENT_AUTH_TOKEN, scopes: ['*'] });
  }
  for (const entry of (env.API_CLIENT_TOKENS ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const separator = entry.indexOf(':');
    if (separator <= 0 || separator === entry.length - 1)
      throw new ConfigError(['environment: API_CLIENT_TOKENS: entries must look like "name:token"']);
    const name = entry.slice(0, separator);
    const token = entry.slice(separator + 1);
    if (tooShort(token))
      problems.push(`environment: API_CLIENT_TOKENS: the token of "${name}" ${TOO_SHORT}; it has ${token.length}`);
    clients.push({ name, token, scopes: ['*'] });
  }
  if (problems.length) throw new ConfigError(problems);
  return clients;
}

/** Reads API_CLIENTS_FILE; a problem stops start-up with one line each, like the inventory. */
export function loadApiClientsFile(file: string, env: Readonly<Record<string, string | undefined>>): ApiClient[] {
  let raw: unknown;
  try {
    raw = parseYaml(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ConfigError([
      `${file}: cannot read API clients file (${(error as NodeJS.ErrnoException).code ?? (error as Error).name})`,
    ]);
  }
  const parsed = apiClientsFileSchema.safeParse(raw);
  if (!parsed.success)
    throw new ConfigError(
      parsed.error.issues.map((issue) => `${file}: ${issue.path.join('.') || '(top level)'}: ${issue.message}`),
    );
  const problems: string[] = [];
  const clients = parsed.data.clients.map((client, index): ApiClient => {
    const secret = client.bearerFrom ? readSecret(client.bearerFrom, env) : readSecret(client.access!.secretFrom, env);
    if (!secret) problems.push(`${file}: clients.${index}: the secret of client "${client.name}" is not set`);
    else if (tooShort(secret))
      problems.push(
        `${file}: clients.${index}: the secret of client "${client.name}" ${TOO_SHORT}; it has ${secret.length}`,
      );
    return {
      name: client.name,
      scopes: client.scopes,
      rateLimit: client.rateLimit,
      ...(client.bearerFrom
        ? { token: secret ?? '' }
        : { access: { clientId: client.access!.clientId, clientSecret: secret ?? '' } }),
    };
  });
  if (problems.length) throw new ConfigError(problems);
  return clients;
}

/** Every client the API accepts: the environment's full-scope tokens plus API_CLIENTS_FILE's. */
export function configuredApiClients(
  env: { CLIENT_AUTH_TOKEN?: string; API_CLIENT_TOKENS?: string; API_CLIENTS_FILE?: string },
  secretEnv: Readonly<Record<string, string | undefined>>,
): ApiClient[] {
  const clients = [
    ...apiClientsFromEnvironment(env),
    ...(env.API_CLIENTS_FILE ? loadApiClientsFile(env.API_CLIENTS_FILE, secretEnv) : []),
  ];
  const names = clients.map((c) => c.name);
  const twice = names.filter((name, i) => names.indexOf(name) !== i);
  if (twice.length) throw new ConfigError([`API clients: names must be unique, "${twice[0]}" is used twice`]);
  if (!clients.length)
    throw new ConfigError([
      'environment: CLIENT_AUTH_TOKEN: required (or API_CLIENT_TOKENS / API_CLIENTS_FILE) so the API can authenticate anyone',
    ]);
  return clients;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Constant-time comparison of equal-length digests: timing never tells how much matched. */
const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));

export interface PresentedCredentials {
  bearer?: string;
  accessClientId?: string;
  accessClientSecret?: string;
}

/** Every client is compared, whatever matched first, so the time taken says nothing either. */
export function findClient(clients: readonly ApiClient[], presented: PresentedCredentials): ApiClient | undefined {
  let found: ApiClient | undefined;
  for (const client of clients) {
    const byBearer =
      client.token !== undefined && presented.bearer !== undefined && same(client.token, presented.bearer);
    const byAccess =
      client.access !== undefined &&
      presented.accessClientId !== undefined &&
      presented.accessClientSecret !== undefined &&
      same(client.access.clientId, presented.accessClientId) &&
      same(client.access.clientSecret, presented.accessClientSecret);
    if ((byBearer || byAccess) && !found) found = client;
  }
  return found;
}

export function allows(client: Pick<ApiClient, 'scopes'>, scope: Scope): boolean {
  return client.scopes.includes('*') || client.scopes.includes(scope);
}
