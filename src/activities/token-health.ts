import type Cloudflare from 'cloudflare';
import { Context } from '@temporalio/activity';
import { planHeal } from '../health/heal-plan';
import type {
  Credential,
  PermissionGroupInfo,
  Refusal,
  TokenIdentity,
  TokenKind,
  TokenObservation,
  TokenSnapshot,
} from '../health/types';
import { attempt, getToken, tokenCredentials, verifyToken, type TokenHealthDeps } from './token-credentials';
import { sdkPolicy } from './token-snapshot';
import { fingerprintToken, subjectKey, type TokenSubject } from './token-subject';

export type { TokenHealthDeps } from './token-credentials';

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

/**
 * Check, heal and read-back against Cloudflare. Every Cloudflare "no" that retrying cannot
 * change (401/403/404) is returned as data, so the workflow can report it; anything else is
 * thrown for Temporal to retry.
 */
export function createTokenHealthActivities(deps: TokenHealthDeps) {
  const credentialsOf = tokenCredentials(deps);

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
