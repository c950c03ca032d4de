import { createHash } from 'node:crypto';
import type Cloudflare from 'cloudflare';
import type { Token, TokenPolicyParam } from 'cloudflare/resources/shared';
import { Context } from '@temporalio/activity';
import type { ApiTokenConfig, Inventory, SecretSource } from '../config';
import { DEFAULT_CLOUDFLARE_BASE_URL, type CloudflareClientFactory } from '../cloudflare/client';
import type { HistoryRepository } from '../db/history-repository';
import { planHeal } from '../health/heal-plan';
import type { TokenHealthReport } from '../health/report';
import { wardenNeeds, type WardenNeed } from '../health/self-audit';
import { historySummary } from '../health/wire';
import type {
  Credential,
  InventoryTokenRef,
  PermissionGroupInfo,
  Refusal,
  TokenCondition,
  TokenIdentity,
  TokenKind,
  TokenObservation,
  TokenPolicy,
  TokenPolicyInput,
  TokenResources,
  TokenSnapshot,
} from '../health/types';
import { describeCloudflareError, isPermanent, toActivityFailure } from './cloudflare-errors';
import { configuredChannels, type NotifyChannel } from './notify';
import { permanentFailure } from './failure-types';
import { writeHistory, type HistoryWriteResult } from './history-writes';

export interface TokenHealthDeps {
  inventory: Pick<Inventory, 'accounts'>;
  readSecret: (source: SecretSource) => string | undefined;
  cloudflare: CloudflareClientFactory;
  cloudflareBaseURL?: string;
  /** A client on token-warden's own Cloudflare token. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
}

/** Whose token an activity is about: one of the inventory's, or the one token-warden runs on. */
export type TokenSubject = { source: 'inventory'; accountId: string; name: string } | { source: 'warden' };

export const WARDEN_SUBJECT = 'token-warden';
export const subjectKey = (subject: TokenSubject): string =>
  subject.source === 'warden' ? WARDEN_SUBJECT : `${subject.accountId}/${subject.name}`;

/** 64 bits of SHA-256: tells a replaced value from the cached one, helps no one guess it. */
export const fingerprintToken = (value: string): string =>
  `sha256:${createHash('sha256').update(value).digest('hex').slice(0, 16)}`;

export type PermissionGroupListing =
  { groups: PermissionGroupInfo[]; problem: null } | { groups: null; problem: string };

export interface HealApplied {
  updated: boolean;
  /** Groups the update added. */
  added: PermissionGroupInfo[];
  /** Groups found already granted when the update was planned (a retry after a lost answer). */
  alreadyPresent: PermissionGroupInfo[];
  blocked: Array<{ group: PermissionGroupInfo; reason: string }>;
  refusal: Refusal | null;
}

const refusalOf = (error: unknown): Refusal => {
  const info = describeCloudflareError(error);
  return {
    httpStatus: info.httpStatus ?? null,
    message: `${info.httpStatus ? `HTTP ${info.httpStatus}: ` : ''}${info.message}`,
  };
};

const stringMap = (value: unknown): Record<string, string> | undefined => {
  if (!value || typeof value !== 'object') return undefined;
  const entries = Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return entries.length ? Object.fromEntries(entries) : undefined;
};

function toSnapshot(token: Token, fallbackId: string): TokenSnapshot {
  const policies: TokenPolicy[] = (token.policies ?? []).map((policy) => {
    const resources: Record<string, TokenResources[string]> = {};
    for (const [key, value] of Object.entries(policy.resources ?? {})) {
      if (typeof value === 'string') resources[key] = value;
      else if (value && typeof value === 'object') resources[key] = stringMap(value) ?? {};
    }
    return {
      id: policy.id,
      effect: policy.effect,
      permission_groups: policy.permission_groups.map((group) => {
        const meta = stringMap(group.meta);
        return { id: group.id, ...(group.name ? { name: group.name } : {}), ...(meta ? { meta } : {}) };
      }),
      resources,
    };
  });
  const condition: TokenCondition | null =
    token.condition && Object.keys(token.condition).length > 0 ? { ...token.condition } : null;
  return {
    id: token.id ?? fallbackId,
    name: token.name ?? '',
    status: token.status ?? 'active',
    issuedOn: token.issued_on ?? null,
    modifiedOn: token.modified_on ?? null,
    notBefore: token.not_before ?? null,
    expiresOn: token.expires_on ?? null,
    policies,
    condition,
  };
}

/**
 * Cloudflare accepts resource maps that mix `"*"` values with nested zone maps; the SDK's type
 * says one or the other. Object.assign's intersection type carries both without a cast.
 */
function sdkResources(resources: TokenResources): TokenPolicyParam['resources'] {
  const flat: Record<string, string> = {};
  const nested: Record<string, Record<string, string>> = {};
  for (const [key, value] of Object.entries(resources)) {
    if (typeof value === 'string') flat[key] = value;
    else nested[key] = { ...value };
  }
  return Object.assign(nested, flat);
}

const sdkPolicy = (policy: TokenPolicyInput): TokenPolicyParam => ({
  effect: policy.effect,
  permission_groups: policy.permission_groups.map((g) => (g.meta ? { id: g.id, meta: { ...g.meta } } : { id: g.id })),
  resources: sdkResources(policy.resources),
});

/**
 * Check, heal and read-back against Cloudflare. Every Cloudflare "no" that retrying cannot
 * change (401/403/404) is returned as data, so the workflow can report it; anything else is
 * thrown for Temporal to retry.
 */
export function createTokenHealthActivities(deps: TokenHealthDeps) {
  function inventoryToken(accountId: string, name: string): ApiTokenConfig {
    const token = deps.inventory.accounts.find((a) => a.id === accountId)?.apiTokens.find((t) => t.name === name);
    if (!token) throw permanentFailure('UnknownApiToken', `API token ${accountId}/${name} is not in the inventory`);
    return token;
  }

  const secretWhere = (source: SecretSource): string =>
    'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;

  /** The token's own value and a client on it; token-warden's own for the warden subject. */
  function credentialsOf(
    subject: TokenSubject,
    purpose: 'reads' | 'mutations',
  ): { value: string | undefined; where: string; client: () => Cloudflare } {
    if (subject.source === 'warden') {
      const client = deps.wardenClient(purpose);
      return {
        value: client.apiToken ?? undefined,
        where: 'token-warden configuration (CLOUDFLARE_API_TOKEN)',
        client: () => client,
      };
    }
    const token = inventoryToken(subject.accountId, subject.name);
    const value = deps.readSecret(token.secretFrom);
    return {
      value,
      where: secretWhere(token.secretFrom),
      client: () => {
        if (!value) throw permanentFailure('ApiTokenValueMissing', `no value for ${subjectKey(subject)}`);
        return deps.cloudflare({
          apiToken: value,
          baseURL: deps.cloudflareBaseURL,
          purpose,
          budgetOwner: token.cloudflareUser,
        });
      },
    };
  }

  const getToken = async (
    client: Cloudflare,
    kind: TokenKind,
    accountId: string,
    tokenId: string,
  ): Promise<TokenSnapshot> =>
    toSnapshot(
      kind === 'account'
        ? await client.accounts.tokens.get(tokenId, { account_id: accountId })
        : await client.user.tokens.get(tokenId),
      tokenId,
    );

  const verifyToken = async (client: Cloudflare, kind: TokenKind, accountId: string) =>
    kind === 'account' ? client.accounts.tokens.verify({ account_id: accountId }) : client.user.tokens.verify();

  /** Runs a Cloudflare call; a permanent refusal comes back as data, anything else is retried. */
  async function attempt<T>(
    what: string,
    call: () => Promise<T>,
  ): Promise<{ ok: true; value: T } | { ok: false; refusal: Refusal }> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      if (!isPermanent(describeCloudflareError(error))) throw toActivityFailure(error, what);
      return { ok: false, refusal: refusalOf(error) };
    }
  }

  return {
    /**
     * The run's one permission-group listing, on token-warden's own token: one request. The
     * listing is a single page, so only that page is read (iterating the SDK's list asks for
     * the next page whenever the page type paginates: one more request, for nothing).
     */
    async listPermissionGroups(input: {
      accountId: string | null;
      wardenKind?: TokenKind | null;
    }): Promise<PermissionGroupListing> {
      const client = deps.wardenClient('reads');
      const firstPage = async (
        listing: PromiseLike<{ getPaginatedItems(): Array<{ id?: string; name?: string; scopes?: string[] }> }>,
      ): Promise<PermissionGroupInfo[]> =>
        (await listing)
          .getPaginatedItems()
          .flatMap((group) =>
            group.id && group.name ? [{ id: group.id, name: group.name, scopes: [...(group.scopes ?? [])] }] : [],
          );
      const accountId = input.accountId;
      const user = () => firstPage(client.user.tokens.permissionGroups.list());
      const account = accountId
        ? () => firstPage(client.accounts.tokens.permissionGroups.list({ account_id: accountId }))
        : null;
      // The user listing includes user-level groups; an account-owned warden token can only use
      // the account's, and one known (from the identity cache) to be account-owned asks there
      // first rather than be refused by the user listing on every run.
      const sources = (input.wardenKind === 'account' ? [account, user] : [user, account]).filter(
        (source) => source !== null,
      );
      let problem = 'no permission-group listing to ask';
      for (const source of sources) {
        const listed = await attempt('list permission groups', source);
        if (listed.ok) return { groups: listed.value, problem: null };
        problem = listed.refusal.message;
      }
      return { groups: null, problem };
    },

    /**
     * What Cloudflare says about one token. A token known (by the cache) to read itself costs
     * one GET, which carries status, expiry and policies; otherwise verify (on the token's own
     * value: is it accepted, what is its id) and a GET on token-warden's token, which can read
     * tokens that cannot read themselves, including invalid ones.
     */
    async observeApiToken(input: {
      subject: TokenSubject;
      kind: TokenKind | null;
      accountId: string | null;
      configuredId: string | null;
      cached: TokenIdentity | null;
    }): Promise<TokenObservation> {
      const { subject } = input;
      const own = credentialsOf(subject, 'reads');
      const base: TokenObservation = {
        fingerprint: null,
        secret: 'missing',
        secretSource: own.where,
        tokenId: input.configuredId,
        accepted: null,
        verified: null,
        refusal: null,
        snapshot: null,
        readVia: null,
        readProblem: null,
        kind: input.kind,
      };
      if (!own.value) return base;
      const fingerprint = fingerprintToken(own.value);
      const cached = input.cached && input.cached.fingerprint === fingerprint ? input.cached : null;
      const observation: TokenObservation = {
        ...base,
        fingerprint,
        secret: 'present',
        kind: input.kind ?? cached?.kind ?? null,
      };
      const self = own.client();
      const accountId = input.accountId ?? '';

      if (cached?.selfReadable) {
        const read = await attempt(`read ${subjectKey(subject)}`, () =>
          getToken(self, cached.kind, accountId, cached.tokenId),
        );
        if (read.ok)
          return {
            ...observation,
            kind: cached.kind,
            tokenId: read.value.id,
            accepted: true,
            snapshot: read.value,
            readVia: 'self',
          };
        // It can no longer read itself (or is no longer valid): fall back to verify + read.
      }

      const kinds: TokenKind[] = observation.kind ? [observation.kind] : accountId ? ['user', 'account'] : ['user'];
      for (const kind of kinds) {
        const verified = await attempt(`verify ${subjectKey(subject)}`, () => verifyToken(self, kind, accountId));
        if (verified.ok) {
          observation.kind = kind;
          observation.accepted = true;
          observation.refusal = null;
          observation.tokenId = verified.value.id;
          observation.verified = {
            status: verified.value.status,
            expiresOn: verified.value.expires_on ?? null,
            notBefore: verified.value.not_before ?? null,
          };
          break;
        }
        observation.accepted = false;
        observation.refusal = verified.refusal;
      }
      observation.tokenId = observation.tokenId ?? cached?.tokenId ?? input.configuredId;
      const kind = observation.kind;
      const tokenId = observation.tokenId;
      if (!tokenId || !kind)
        return {
          ...observation,
          readProblem: 'its token id is unknown (Cloudflare did not verify it and the inventory names no id)',
        };

      const readers: Array<{ via: Credential; client: () => Cloudflare }> =
        subject.source === 'warden'
          ? [{ via: 'self', client: () => self }]
          : [
              { via: 'warden', client: () => deps.wardenClient('reads') },
              ...(observation.accepted ? [{ via: 'self' as const, client: () => self }] : []),
            ];
      const problems: string[] = [];
      for (const reader of readers) {
        const read = await attempt(`read ${subjectKey(subject)}`, () =>
          getToken(reader.client(), kind, accountId, tokenId),
        );
        if (read.ok) return { ...observation, snapshot: read.value, readVia: reader.via };
        problems.push(
          `${reader.via === 'self' ? 'the token itself' : "token-warden's token"}: ${read.refusal.message}`,
        );
      }
      return { ...observation, readProblem: problems.join('; ') };
    },

    /**
     * Adds the missing groups (add-only, see planHeal) in one update. The first attempt plans
     * from the check's read; a retry reads the token again first, because the update may have
     * been applied with its answer lost, and then finds the groups present instead of adding
     * them twice.
     */
    async healApiToken(input: {
      subject: TokenSubject;
      kind: TokenKind;
      accountId: string;
      tokenId: string;
      via: Credential;
      snapshot: TokenSnapshot;
      missing: PermissionGroupInfo[];
      userResourceKey: string | null;
    }): Promise<HealApplied> {
      const editor =
        input.via === 'self' ? credentialsOf(input.subject, 'mutations').client() : deps.wardenClient('mutations');
      let basis = input.snapshot;
      if (Context.current().info.attempt > 1) {
        const read = await attempt(`read ${subjectKey(input.subject)}`, () =>
          getToken(editor, input.kind, input.accountId, input.tokenId),
        );
        if (!read.ok) return { updated: false, added: [], alreadyPresent: [], blocked: [], refusal: read.refusal };
        basis = read.value;
      }
      const plan = planHeal(basis.policies, input.missing, {
        kind: input.kind,
        accountId: input.accountId,
        userResourceKey: input.userResourceKey,
      });
      const result = { added: plan.added, alreadyPresent: plan.alreadyPresent, blocked: plan.blocked };
      if (plan.added.length === 0) return { ...result, updated: false, refusal: null };
      // A full replace: name, validity window and condition go back exactly as read, so heal
      // never extends expiry nor drops an IP restriction; status is not sent and stays as it is.
      const body = {
        name: basis.name,
        policies: plan.policies.map(sdkPolicy),
        ...(basis.notBefore ? { not_before: basis.notBefore } : {}),
        ...(basis.expiresOn ? { expires_on: basis.expiresOn } : {}),
        ...(basis.condition ? { condition: basis.condition } : {}),
      };
      const update = await attempt(`update ${subjectKey(input.subject)}`, () =>
        input.kind === 'account'
          ? editor.accounts.tokens.update(input.tokenId, { account_id: input.accountId, ...body })
          : editor.user.tokens.update(input.tokenId, body),
      );
      return update.ok
        ? { ...result, updated: true, refusal: null }
        : { ...result, added: [], updated: false, refusal: update.refusal };
    },

    /** The read-back after heal, on the credential that made the change. */
    async readApiToken(input: {
      subject: TokenSubject;
      kind: TokenKind;
      accountId: string;
      tokenId: string;
      via: Credential;
    }): Promise<{ snapshot: TokenSnapshot | null; problem: string | null }> {
      const client = input.via === 'self' ? credentialsOf(input.subject, 'reads').client() : deps.wardenClient('reads');
      const read = await attempt(`read ${subjectKey(input.subject)}`, () =>
        getToken(client, input.kind, input.accountId, input.tokenId),
      );
      return read.ok ? { snapshot: read.value, problem: null } : { snapshot: null, problem: read.refusal.message };
    },
  };
}

export type TokenHealthActivities = ReturnType<typeof createTokenHealthActivities>;

export interface TokenHealthLocalDeps {
  inventory: Pick<Inventory, 'accounts' | 'notify'>;
  cloudflareBaseURL?: string;
  history: Pick<HistoryRepository, 'recordApiTokenCheck' | 'loadTokenIdentities' | 'saveTokenIdentities'>;
  /** Only to fingerprint each token's value (never to send it): one value is one token, read once per run. */
  readSecret: (source: SecretSource) => string | undefined;
  /** Only for token-warden's own value, fingerprinted like the others; no request is made. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
}

export interface TokenHealthRunPlan {
  tokens: InventoryTokenRef[];
  wardenNeeds: WardenNeed[];
  identities: TokenIdentity[];
  baseURL: string;
  /** Where token-warden's own token is verified if it turns out to be account-owned. */
  firstAccountId: string | null;
  notifyChannels: NotifyChannel[];
  /**
   * Fingerprints of the values the run will check: the inventory's, in its order, and
   * token-warden's own (null where there is none). Tokens holding the same value are one token
   * to Cloudflare, observed once. Absent from plans recorded before it existed.
   */
  fingerprints?: { tokens: Array<string | null>; warden: string | null };
}

const fingerprintOf = (value: string | null | undefined): string | null => (value ? fingerprintToken(value) : null);

/** Postgres and configuration work of a health run, on the main task queue. */
export function createTokenHealthLocalActivities(deps: TokenHealthLocalDeps) {
  return {
    /** The inventory's API tokens (no secrets), what token-warden's own token needs, the identity cache. */
    async prepareTokenHealthRun(): Promise<TokenHealthRunPlan> {
      const accounts = deps.inventory.accounts;
      return {
        tokens: accounts.flatMap((account) =>
          account.apiTokens.map((token) => ({
            accountId: account.id,
            name: token.name,
            kind: token.kind,
            configuredId: token.id ?? null,
            requiredPermissions: [...token.requiredPermissions],
          })),
        ),
        wardenNeeds: wardenNeeds({ accounts }),
        identities: await deps.history.loadTokenIdentities(),
        baseURL: deps.cloudflareBaseURL ?? DEFAULT_CLOUDFLARE_BASE_URL,
        firstAccountId: accounts[0]?.id ?? null,
        notifyChannels: configuredChannels(deps.inventory.notify),
        fingerprints: {
          tokens: accounts.flatMap((account) =>
            account.apiTokens.map((token) => fingerprintOf(deps.readSecret(token.secretFrom))),
          ),
          warden: fingerprintOf(deps.wardenClient('reads').apiToken),
        },
      };
    },

    async rememberTokenIdentities(identities: TokenIdentity[]): Promise<void> {
      await deps.history.saveTokenIdentities(identities);
    },

    /** One history row per run: the seed's history summary and the whole report. Idempotent by run id. */
    async recordTokenHealth(report: TokenHealthReport): Promise<HistoryWriteResult> {
      const attempted = report.heal !== null && !report.dryRun;
      return writeHistory(
        'token health row',
        {
          runId: report.runId,
          workflowId: report.workflowId,
          kind: 'health',
          triggeredBy: report.triggeredBy,
          overallHealth: report.overallHealth,
          autoHealAttempted: attempted,
          autoHealSuccess: attempted ? (report.heal ?? []).every((h) => h.success) : null,
          results: { version: 1, timestamp: report.timestamp, summary: historySummary(report.tokens), report },
        },
        deps.history.recordApiTokenCheck,
      );
    },
  };
}

export type TokenHealthLocalActivities = ReturnType<typeof createTokenHealthLocalActivities>;
