import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { msToNumber } from '@temporalio/common';
import { propagationTargetSchema } from './stores/store-schemas';
import { apiTokenRotateSchema } from './api-token-rotate-config';
import { secretSourceSchema } from './secret-source';
import { durationSchema } from './duration-schema';

export const apiTokenSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'lowercase letters, digits and dashes'),
  kind: z.enum(['account', 'user']),
  /** Cloudflare's token id; discovered through verify when absent. */
  id: z.string().optional(),
  /**
   * The Cloudflare user the token belongs to, whose rate limit its requests count against:
   * tokens naming the same user share one request budget. Default: token-warden's own user.
   */
  cloudflareUser: z.string().min(1).optional(),
  secretFrom: secretSourceSchema,
  requiredPermissions: z.array(z.string().min(1)).default([]),
  /** Rotation by token-warden (api-token-rotate-config.ts); absent: health checks only. */
  rotate: apiTokenRotateSchema.optional(),
  /**
   * The token token-warden itself runs on (README, "token-warden's own token"): its `secretFrom`
   * is the file of CLOUDFLARE_API_TOKEN_FILE, which its rotation writes and every worker re-reads.
   */
  self: z.boolean().default(false),
});

export const serviceTokenSchema = z.strictObject({
  name: z.string().min(1),
  /** Account-scoped by default; a zone id makes it zone-scoped. */
  zoneId: z.string().optional(),
  strategy: z.enum(['rotate-secret', 'replace']).default('rotate-secret'),
  /** How long the previous secret keeps working after a rotation. */
  overlap: durationSchema.default('1h'),
  /** Lifetime given to newly created tokens (Cloudflare's `duration`). */
  duration: durationSchema.default('8760h'),
  /** Rotate (or refresh) once the token is this close to expiring. */
  renewBefore: durationSchema.default('720h'),
  renewAction: z.enum(['rotate', 'refresh']).default('rotate'),
  /** Durable wait between verification and retiring the old secret. */
  propagationWait: durationSchema.default('30s'),
  probeUrl: z.url().optional(),
  targets: z.array(propagationTargetSchema).default([]),
});

export const accountSchema = z.strictObject({
  id: z.string().min(1),
  name: z.string().min(1).optional(),
  apiTokens: z.array(apiTokenSchema).default([]),
  serviceTokens: z.array(serviceTokenSchema).default([]),
});

export const inventorySchema = z
  .strictObject({
    accounts: z.array(accountSchema).min(1),
    notify: z.strictObject({ webhookUrl: z.url().optional(), slackWebhookUrl: z.url().optional() }).default({}),
  })
  .superRefine((inventory, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, message });
    const seen = new Set<string>();
    let selfSeen = false;
    inventory.accounts.forEach((account, a) => {
      account.apiTokens.forEach((token, t) => {
        if (!token.self) return;
        const at = ['accounts', a, 'apiTokens', t];
        if (selfSeen) issue([...at, 'self'], "only one API token can be token-warden's own");
        selfSeen = true;
        if (!('file' in token.secretFrom))
          issue(
            [...at, 'secretFrom'],
            "token-warden's own token is read from a file (CLOUDFLARE_API_TOKEN_FILE), so a rotation can replace it without a restart",
          );
        if (token.rotate?.strategy === 'roll')
          issue(
            [...at, 'rotate', 'strategy'],
            "token-warden's own token rotates by successor: a roll kills the value token-warden works with before it holds the new one",
          );
      });
      account.serviceTokens.forEach((token, t) => {
        if (token.zoneId && token.strategy === 'rotate-secret')
          issue(
            ['accounts', a, 'serviceTokens', t, 'strategy'],
            'zone-scoped service tokens have no rotate endpoint: use strategy: replace',
          );
        const key = `${account.id}/${token.name}`;
        if (seen.has(key))
          issue(
            ['accounts', a, 'serviceTokens', t, 'name'],
            `duplicate service token "${token.name}" in account ${account.id}`,
          );
        seen.add(key);
      });
    });
  });

const booleanFlag = z
  .enum(['true', 'false', '1', '0', ''])
  .optional()
  .transform((value) => value === 'true' || value === '1');

const optionalString = z
  .string()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

export const environmentSchema = z.object({
  NODE_ENV: optionalString,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Unset: readable lines on a terminal, JSON otherwise (see logger.ts). */
  LOG_FORMAT: z.enum(['pretty', 'json']).optional(),
  DATA_DIR: z.string().default('.data'),
  TOKEN_WARDEN_INVENTORY: optionalString,

  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_API_KEY: optionalString,
  TEMPORAL_TLS: booleanFlag,
  TEMPORAL_TASK_QUEUE: z.string().default('token-warden'),
  TEMPORAL_CLI_PATH: optionalString,
  TEMPORAL_UI_PORT: z.coerce.number().int().positive().default(8233),
  TEMPORAL_PORT: z.coerce.number().int().positive().default(7233),
  /** Where operators open the Temporal UI; the dashboard links runs there. */
  TEMPORAL_UI_URL: optionalString,
  /** Browser origins of the Temporal UI allowed to use the codec; default: TEMPORAL_UI_URL's and loopback on TEMPORAL_UI_PORT. */
  TEMPORAL_UI_ORIGINS: optionalString,
  /** Cloudflare Access in front of the Temporal UI: the codec accepts its users' Access JWT (team domain and the app's AUD tag). */
  CF_ACCESS_TEAM_DOMAIN: optionalString,
  CF_ACCESS_AUD: optionalString,
  /** The Temporal UI's OIDC login (TEMPORAL_CODEC_PASS_ACCESS_TOKEN=true): the codec accepts its access tokens. */
  TEMPORAL_UI_OIDC_ISSUER: optionalString,
  TEMPORAL_UI_OIDC_AUDIENCE: optionalString,
  /**
   * Requests to Cloudflare per 5 minutes and Cloudflare user, shared by every worker process.
   * Cloudflare allows 1,200 per user across the dashboard, Terraform and every token: the
   * default leaves a quarter to the people and tools sharing the user.
   */
  CLOUDFLARE_REQUESTS_PER_5_MIN: z.coerce.number().int().min(20).default(900),
  /** Cloudflare's rate-limit window; shorter only against a time-scaled simulator (tests, benches). */
  CLOUDFLARE_BUDGET_WINDOW_SECONDS: z.coerce.number().positive().default(300),
  /** Names the Cloudflare user token-warden's own token belongs to: the key of its request budget. */
  CLOUDFLARE_USER: z.string().min(1).default('token-warden'),
  /** Replaced: the budget counts requests now. */
  CLOUDFLARE_ACTIVITIES_PER_SECOND: z
    .string()
    .optional()
    .refine(
      (value) => value === undefined,
      'replaced by CLOUDFLARE_REQUESTS_PER_5_MIN (Cloudflare counts requests, not activities: one activity may send many); remove it and set that instead',
    ),

  DATABASE_URL: optionalString,
  /** Port of the embedded PostgreSQL that `npm start` runs when DATABASE_URL is unset. */
  POSTGRES_PORT: z.coerce.number().int().positive().default(5433),

  CLOUDFLARE_API_TOKEN: optionalString,
  /**
   * A file holding token-warden's own token instead (the value alone, a mounted Kubernetes Secret
   * key, or a dotenv/JSON file with a CLOUDFLARE_API_TOKEN key): re-read whenever it changes.
   */
  CLOUDFLARE_API_TOKEN_FILE: optionalString,
  CLOUDFLARE_BASE_URL: optionalString,
  CLOUDFLARE_ACCOUNT_ID: optionalString,
  /** Port of the built-in Cloudflare simulator (simulation mode only). */
  SIMULATOR_PORT: z.coerce.number().int().min(0).default(8787),

  /** base64 of 32 bytes; encrypts Temporal payloads and staged secrets. */
  TOKEN_WARDEN_ENCRYPTION_KEY: optionalString,
  TOKEN_WARDEN_ENCRYPTION_KEY_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .default('k1'),
  /** Older keys still accepted for decryption: "id:base64,id:base64". */
  TOKEN_WARDEN_PREVIOUS_KEYS: optionalString,

  HOST: z.string().default('127.0.0.1'),
  PORT: z.coerce.number().int().min(0).default(3000),
  CLIENT_AUTH_TOKEN: optionalString,
  /** More API clients: "name:token,name:token". */
  API_CLIENT_TOKENS: optionalString,
  /** YAML of API clients with scopes, rate limits and bearer or Access service-token credentials. */
  API_CLIENTS_FILE: optionalString,
  API_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().positive().default(600),
  /** `/tokens/status` answers from the latest recorded check; it starts a new one only when that is older than this. */
  TOKEN_STATUS_MAX_AGE_SECONDS: z.coerce.number().int().min(0).default(900),
  /** Rotation runs, API-token checks and audit rows older than this many days are pruned by the worker; 0 keeps them all. */
  HISTORY_RETENTION_DAYS: z.coerce.number().int().min(0).default(365),
});

export type Inventory = z.infer<typeof inventorySchema>;
export type Account = z.infer<typeof accountSchema>;
export type ApiTokenConfig = z.infer<typeof apiTokenSchema>;
export type ServiceTokenConfig = z.infer<typeof serviceTokenSchema>;
export type Environment = z.infer<typeof environmentSchema>;

/** Raised for bad configuration; its message is one line per problem, ready to print. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

function describeIssues(source: string, issues: readonly z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const at = issue.path.length ? issue.path.map(String).join('.') : '(top level)';
    return `${source}: ${at}: ${issue.message}`;
  });
}

export function parseEnvironment(env: Readonly<Record<string, string | undefined>>): Environment {
  const result = environmentSchema.safeParse(env);
  if (!result.success) throw new ConfigError(describeIssues('environment', result.error.issues));
  return result.data;
}

/**
 * `${NAME}` in a string value of the inventory is replaced by that environment variable, for
 * values that differ per deployment (account ids, probe URLs). Secrets never go through this:
 * they use `secretFrom`. Comments are left alone: expansion runs on the parsed values.
 */
export function expandVariables(
  value: unknown,
  source: string,
  env: Readonly<Record<string, string | undefined>>,
  at: string[] = [],
  problems: string[] = [],
): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
      const found = env[name];
      if (found === undefined || found === '')
        problems.push(`${source}: ${at.join('.') || '(top level)'}: environment variable ${name} is not set`);
      return found ?? '';
    });
  }
  if (Array.isArray(value))
    return value.map((item, i) => expandVariables(item, source, env, [...at, String(i)], problems));
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, expandVariables(item, source, env, [...at, key], problems)]),
    );
  }
  return value;
}

export function parseInventory(
  text: string,
  source: string,
  env: Readonly<Record<string, string | undefined>> = {},
): Inventory {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true });
  } catch (error) {
    const reason = error instanceof YAMLParseError ? error.message.split('\n')[0] : String(error);
    throw new ConfigError([`${source}: not valid YAML: ${reason}`]);
  }
  const problems: string[] = [];
  const expanded = expandVariables(raw, source, env, [], problems);
  if (problems.length) throw new ConfigError(problems);
  const result = inventorySchema.safeParse(expanded);
  if (!result.success) throw new ConfigError(describeIssues(source, result.error.issues));
  return deepFreeze(result.data);
}

export function loadInventoryFile(file: string, env: Readonly<Record<string, string | undefined>> = {}): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new ConfigError([`${file}: cannot read inventory file (${code})`]);
  }
  return parseInventory(text, path.relative(process.cwd(), file) || file, env);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

export function durationMs(duration: string): number {
  return msToNumber(duration as Parameters<typeof msToNumber>[0]);
}
