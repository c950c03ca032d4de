import { DEFAULT_SERVICE_TOKEN_DURATION, parseDuration } from '../duration';
import { badRequest, notFound } from '../errors';
import { fingerprint, matchesFingerprint, newClientId, newServiceTokenSecret, newUuid } from '../ids';
import type { SimStore } from './store';
import type { ServiceTokenRecord, ServiceTokenScope } from './types';

export interface ServiceTokenCreateInput {
  name: string;
  duration?: string;
  enabled?: boolean;
  /** Test helper only (not an API field): an explicit expiry instead of now + duration. */
  expiresAt?: string | null;
}

export interface ServiceTokenUpdateInput {
  name?: string;
  duration?: string;
  enabled?: boolean;
  client_secret_version?: number;
  previous_client_secret_expires_at?: string;
}

/** Which secret authenticated, or why none did. */
export type CredentialCheck =
  | { ok: true; token: ServiceTokenRecord; secret: 'current' | 'previous' }
  | { ok: false; reason: 'unknown_client_id' | 'invalid_secret' | 'disabled' | 'expired'; token?: ServiceTokenRecord };

/**
 * Access service tokens. Cloudflare keeps one previous secret: a rotation moves the
 * current secret to "previous" (valid until previous_client_secret_expires_at) and
 * issues a new current one, so a second rotation ends the first one's overlap.
 */
export class ServiceTokensRepo {
  constructor(private readonly store: SimStore) {}

  create(
    scope: ServiceTokenScope,
    input: ServiceTokenCreateInput,
  ): { record: ServiceTokenRecord; clientSecret: string } {
    const duration = input.duration ?? DEFAULT_SERVICE_TOKEN_DURATION;
    const durationMs = requireDuration(duration);
    if (input.name.trim() === '') throw badRequest('name: must not be empty');
    const clientSecret = newServiceTokenSecret();
    const now = this.store.now();
    const nowIso = new Date(now).toISOString();
    const record: ServiceTokenRecord = {
      id: newUuid(),
      scope,
      name: input.name,
      client_id: newClientId(),
      secretHash: fingerprint(clientSecret),
      client_secret_version: 1,
      previousSecretHash: null,
      previous_client_secret_expires_at: null,
      duration,
      expires_at: input.expiresAt !== undefined ? input.expiresAt : expiryFrom(now, durationMs),
      created_at: nowIso,
      updated_at: nowIso,
      last_seen_at: null,
      enabled: input.enabled ?? true,
    };
    this.store.mutate((data) => {
      data.serviceTokens[record.id] = record;
    });
    return { record, clientSecret };
  }

  list(scope: ServiceTokenScope): ServiceTokenRecord[] {
    return Object.values(this.store.data.serviceTokens).filter((t) => sameScope(t.scope, scope));
  }

  get(id: string): ServiceTokenRecord | undefined {
    return this.store.data.serviceTokens[id];
  }

  requireInScope(scope: ServiceTokenScope, id: string): ServiceTokenRecord {
    const token = this.get(id);
    if (!token || !sameScope(token.scope, scope)) throw notFound(`service token ${id}`);
    return token;
  }

  /**
   * Raising client_secret_version rotates without returning the new secret (the API's
   * update response never carries it) — the "applied but unseen" hazard the design notes.
   */
  update(scope: ServiceTokenScope, id: string, input: ServiceTokenUpdateInput): ServiceTokenRecord {
    const token = this.requireInScope(scope, id);
    if (input.duration !== undefined) requireDuration(input.duration);
    if (input.name !== undefined && input.name.trim() === '') throw badRequest('name: must not be empty');
    if (input.client_secret_version !== undefined && input.client_secret_version < token.client_secret_version) {
      throw badRequest('client_secret_version: cannot go backwards');
    }
    const previousExpiry = input.previous_client_secret_expires_at;
    if (previousExpiry !== undefined) requireDate('previous_client_secret_expires_at', previousExpiry);
    return this.store.mutate(() => {
      if (input.name !== undefined) token.name = input.name;
      if (input.duration !== undefined) token.duration = input.duration;
      if (input.enabled !== undefined) token.enabled = input.enabled;
      if (input.client_secret_version !== undefined && input.client_secret_version > token.client_secret_version) {
        this.replaceSecret(token, previousExpiry ?? this.store.nowIso());
        token.client_secret_version = input.client_secret_version;
      } else if (previousExpiry !== undefined) {
        token.previous_client_secret_expires_at = previousExpiry;
      }
      token.updated_at = this.store.nowIso();
      return token;
    });
  }

  delete(scope: ServiceTokenScope, id: string): ServiceTokenRecord {
    const token = this.requireInScope(scope, id);
    this.store.mutate((data) => {
      delete data.serviceTokens[id];
    });
    return token;
  }

  /** Sets expires_at to now + the token's duration (a refresh also revives an expired token). */
  refresh(scope: ServiceTokenScope, id: string): ServiceTokenRecord {
    const token = this.requireInScope(scope, id);
    const durationMs = requireDuration(token.duration);
    return this.store.mutate(() => {
      token.expires_at = expiryFrom(this.store.now(), durationMs);
      token.updated_at = this.store.nowIso();
      return token;
    });
  }

  /** New client secret, version + 1; the old secret works until `previousExpiresAt` (default: now). */
  rotate(
    scope: ServiceTokenScope,
    id: string,
    previousExpiresAt?: string,
  ): { record: ServiceTokenRecord; clientSecret: string } {
    const token = this.requireInScope(scope, id);
    if (previousExpiresAt !== undefined) requireDate('previous_client_secret_expires_at', previousExpiresAt);
    return this.store.mutate(() => {
      const clientSecret = this.replaceSecret(token, previousExpiresAt ?? this.store.nowIso());
      token.client_secret_version += 1;
      token.updated_at = this.store.nowIso();
      return { record: token, clientSecret };
    });
  }

  findByClientId(clientId: string): ServiceTokenRecord | undefined {
    return Object.values(this.store.data.serviceTokens).find((t) => t.client_id === clientId);
  }

  checkCredential(clientId: string, clientSecret: string): CredentialCheck {
    const token = this.findByClientId(clientId);
    if (!token) return { ok: false, reason: 'unknown_client_id' };
    const now = this.store.now();
    let secret: 'current' | 'previous' | undefined;
    if (matchesFingerprint(clientSecret, token.secretHash)) secret = 'current';
    else if (
      matchesFingerprint(clientSecret, token.previousSecretHash) &&
      token.previous_client_secret_expires_at !== null &&
      Date.parse(token.previous_client_secret_expires_at) > now
    ) {
      secret = 'previous';
    }
    if (!secret) return { ok: false, reason: 'invalid_secret', token };
    if (!token.enabled) return { ok: false, reason: 'disabled', token };
    if (token.expires_at !== null && Date.parse(token.expires_at) <= now)
      return { ok: false, reason: 'expired', token };
    return { ok: true, token, secret };
  }

  /** Records a successful authentication (persisted with the next mutation). */
  touch(token: ServiceTokenRecord): void {
    token.last_seen_at = this.store.nowIso();
  }

  private replaceSecret(token: ServiceTokenRecord, previousExpiresAt: string): string {
    const clientSecret = newServiceTokenSecret();
    token.previousSecretHash = token.secretHash;
    token.previous_client_secret_expires_at = previousExpiresAt;
    token.secretHash = fingerprint(clientSecret);
    return clientSecret;
  }
}

function sameScope(a: ServiceTokenScope, b: ServiceTokenScope): boolean {
  if (a.kind === 'account') return b.kind === 'account' && a.accountId === b.accountId;
  return b.kind === 'zone' && a.zoneId === b.zoneId;
}

function requireDuration(duration: string): number | null {
  const ms = parseDuration(duration);
  if (ms === undefined) throw badRequest(`duration: "${duration}" is not a duration like 8760h, 30m or forever`);
  return ms;
}

function requireDate(field: string, value: string): void {
  if (Number.isNaN(Date.parse(value))) throw badRequest(`${field}: not a date-time`);
}

const expiryFrom = (nowMs: number, durationMs: number | null): string | null =>
  durationMs === null ? null : new Date(nowMs + durationMs).toISOString();

/** The API's view of a service token: never the secret. */
export function serviceTokenView(token: ServiceTokenRecord): Record<string, unknown> {
  return {
    id: token.id,
    client_id: token.client_id,
    name: token.name,
    duration: token.duration,
    ...(token.expires_at ? { expires_at: token.expires_at } : {}),
    created_at: token.created_at,
    updated_at: token.updated_at,
    last_seen_at: token.last_seen_at,
    client_secret_version: token.client_secret_version,
    previous_client_secret_expires_at: token.previous_client_secret_expires_at,
    enabled: token.enabled,
  };
}
