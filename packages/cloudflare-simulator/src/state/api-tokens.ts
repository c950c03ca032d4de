import { badRequest, notFound } from '../errors';
import { fingerprint, newApiTokenValue, newHexId } from '../ids';
import { isUserScoped, permissionGroupById } from '../permission-groups';
import type { SimStore } from './store';
import type { ApiTokenOwner, ApiTokenPolicy, ApiTokenRecord, RequestIpCondition, TokenResources } from './types';

export interface ApiTokenPolicyInput {
  effect: 'allow' | 'deny';
  permission_groups: Array<{ id: string }>;
  resources: TokenResources;
}

/** Everything a create or a (full-replace) update sets. */
export interface ApiTokenInput {
  name: string;
  policies: ApiTokenPolicyInput[];
  not_before?: string | null;
  expires_on?: string | null;
  requestIp?: RequestIpCondition | null;
  status?: ApiTokenRecord['status'];
}

/** Why a token can or cannot be used right now. */
export type ApiTokenValidity = 'active' | 'disabled' | 'expired' | 'not_yet_valid';

const RESOURCE_KEY = /^com\.cloudflare\.api\.(account\.zone|account|user)\.([0-9a-f]{32}|\*)$/;

export class ApiTokensRepo {
  private readonly idByHash = new Map<string, string>();

  constructor(private readonly store: SimStore) {
    for (const token of Object.values(store.data.apiTokens)) this.idByHash.set(token.valueHash, token.id);
  }

  create(owner: ApiTokenOwner, input: ApiTokenInput): { record: ApiTokenRecord; value: string } {
    validateTokenInput(owner, input);
    const value = newApiTokenValue(owner.kind);
    const now = this.store.nowIso();
    const record: ApiTokenRecord = {
      id: newHexId(),
      name: input.name,
      owner,
      valueHash: fingerprint(value),
      status: input.status ?? 'active',
      issued_on: now,
      modified_on: now,
      last_used_on: null,
      not_before: input.not_before ?? null,
      expires_on: input.expires_on ?? null,
      policies: input.policies.map(toPolicy),
      requestIp: input.requestIp ?? null,
    };
    this.store.mutate((data) => {
      data.apiTokens[record.id] = record;
    });
    this.idByHash.set(record.valueHash, record.id);
    return { record, value };
  }

  get(id: string): ApiTokenRecord | undefined {
    return this.store.data.apiTokens[id];
  }

  /** The token with this id owned by `owner`, or a 404. */
  requireOwned(owner: ApiTokenOwner, id: string): ApiTokenRecord {
    const token = this.get(id);
    if (!token || !sameOwner(token.owner, owner)) throw notFound(`API token ${id}`);
    return token;
  }

  list(owner: ApiTokenOwner): ApiTokenRecord[] {
    return Object.values(this.store.data.apiTokens).filter((t) => sameOwner(t.owner, owner));
  }

  /** PUT semantics: name, policies, validity window and condition are replaced; status is kept unless sent. */
  update(owner: ApiTokenOwner, id: string, input: ApiTokenInput): ApiTokenRecord {
    const token = this.requireOwned(owner, id);
    validateTokenInput(owner, input);
    return this.store.mutate(() => {
      token.name = input.name;
      token.policies = input.policies.map(toPolicy);
      token.not_before = input.not_before ?? null;
      token.expires_on = input.expires_on ?? null;
      token.requestIp = input.requestIp ?? null;
      if (input.status) token.status = input.status;
      token.modified_on = this.store.nowIso();
      return token;
    });
  }

  delete(owner: ApiTokenOwner, id: string): void {
    const token = this.requireOwned(owner, id);
    this.store.mutate((data) => {
      delete data.apiTokens[id];
    });
    this.idByHash.delete(token.valueHash);
  }

  /** Issues a new value; the old one stops working at once. */
  roll(owner: ApiTokenOwner, id: string): string {
    const token = this.requireOwned(owner, id);
    const value = newApiTokenValue(token.owner.kind);
    this.store.mutate(() => {
      this.idByHash.delete(token.valueHash);
      token.valueHash = fingerprint(value);
      token.modified_on = this.store.nowIso();
    });
    this.idByHash.set(token.valueHash, token.id);
    return value;
  }

  findByValue(value: string): ApiTokenRecord | undefined {
    const id = this.idByHash.get(fingerprint(value));
    return id === undefined ? undefined : this.get(id);
  }

  validity(token: ApiTokenRecord): ApiTokenValidity {
    const now = this.store.now();
    if (token.status === 'disabled') return 'disabled';
    if (token.status === 'expired') return 'expired';
    if (token.expires_on && Date.parse(token.expires_on) <= now) return 'expired';
    if (token.not_before && Date.parse(token.not_before) > now) return 'not_yet_valid';
    return 'active';
  }

  /** Records use without a state write of its own: it is persisted with the next mutation. */
  touch(token: ApiTokenRecord): void {
    token.last_used_on = this.store.nowIso();
  }
}

function sameOwner(a: ApiTokenOwner, b: ApiTokenOwner): boolean {
  if (a.kind === 'user') return b.kind === 'user';
  return b.kind === 'account' && a.accountId === b.accountId;
}

function toPolicy(input: ApiTokenPolicyInput): ApiTokenPolicy {
  return {
    id: newHexId(),
    effect: input.effect,
    permission_groups: input.permission_groups.map((g) => ({ id: g.id })),
    resources: structuredClone(input.resources),
  };
}

function validateTokenInput(owner: ApiTokenOwner, input: ApiTokenInput): void {
  if (input.name.trim() === '') throw badRequest('name: must not be empty');
  for (const [key, value] of [
    ['not_before', input.not_before],
    ['expires_on', input.expires_on],
  ] as const) {
    if (value && Number.isNaN(Date.parse(value))) throw badRequest(`${key}: not a date-time`);
  }
  for (const policy of input.policies) {
    if (policy.permission_groups.length === 0)
      throw badRequest('policies: each policy needs at least one permission group');
    for (const ref of policy.permission_groups) {
      const group = permissionGroupById(ref.id);
      if (!group) throw badRequest(`Permission group ${ref.id} does not exist`);
      if (owner.kind === 'account' && isUserScoped(group)) {
        throw badRequest(`Permission group "${group.name}" cannot be granted to an account-owned token`);
      }
    }
    const keys = Object.keys(policy.resources);
    if (keys.length === 0) throw badRequest('policies: each policy needs at least one resource');
    for (const key of keys) {
      const match = RESOURCE_KEY.exec(key);
      if (!match) throw badRequest(`Invalid resource "${key}"`);
      if (owner.kind === 'account' && match[1] === 'user') {
        throw badRequest('User resources cannot be granted to an account-owned token');
      }
      if (owner.kind === 'account' && match[1] === 'account' && match[2] !== owner.accountId) {
        throw badRequest(`An account-owned token can only be granted its own account (${owner.accountId})`);
      }
    }
  }
}

/** The API's view of a token (never the value). */
export function apiTokenView(token: ApiTokenRecord, validity: ApiTokenValidity): Record<string, unknown> {
  return {
    id: token.id,
    name: token.name,
    status: validity === 'expired' ? 'expired' : token.status,
    issued_on: token.issued_on,
    modified_on: token.modified_on,
    last_used_on: token.last_used_on,
    ...(token.not_before ? { not_before: token.not_before } : {}),
    ...(token.expires_on ? { expires_on: token.expires_on } : {}),
    policies: token.policies.map((p) => ({
      id: p.id,
      effect: p.effect,
      permission_groups: p.permission_groups.map((g) => {
        const name = permissionGroupById(g.id)?.name;
        return name ? { id: g.id, name } : { id: g.id };
      }),
      resources: p.resources,
    })),
    condition: token.requestIp ? { request_ip: token.requestIp } : {},
  };
}
