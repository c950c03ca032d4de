import type Cloudflare from 'cloudflare';
import { Context } from '@temporalio/activity';
import type { Inventory } from '../config';
import { findApiToken } from '../inventory';
import { evaluateRequirements, PermissionCatalogue } from '../health/permissions';
import type { TokenKind } from '../health/types';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import { listAll, MAX_PAGE_SIZE } from '../cloudflare/pages';
import { describeCloudflareError, toActivityFailure } from './cloudflare-errors';
import { permanentFailure, retryableFailure } from './failure-types';
import { findStaged, openStaged } from './pending-secret-access';
import { getToken, verifyToken, type TokenHealthDeps } from './token-credentials';
import { createTokenHealthActivities } from './token-health';
import { createSelfTokenChecks } from './api-token-self';
import { sdkPolicy } from './token-snapshot';

export interface ApiTokenRotationDeps extends TokenHealthDeps {
  inventory: Pick<Inventory, 'accounts'>;
  pending: Pick<PendingSecretStore, 'current' | 'open' | 'find' | 'stagePending' | 'setCurrent'>;
}

/** The API token a rotation starts from, as Cloudflare has it now; never its value. */
export interface ResolvedApiToken {
  tokenId: string;
  kind: TokenKind;
  /** Cloudflare's name of the old token. */
  name: string;
  modifiedOn: string | null;
  expiresOn: string | null;
  /**
   * Present for token-warden's own token (`self: true`): the record of the value it runs on now,
   * what compensation writes back, and a sign that an emergency must not kill it first.
   */
  self?: { currentRef: string };
}

/** A new value, staged in the pending-secret store: clientId is the token id, the value the secret. */
export interface IssuedApiToken {
  ref: string;
  fingerprint: string;
  tokenId: string;
  clientId: string;
  /** Tokens of the successor's name a lost create had left behind, deleted before creating again. */
  orphansDeleted: string[];
}

export type Key = TokenKey & { credential: 'api-token' };

const isNotFound = (error: unknown) => describeCloudflareError(error).httpStatus === 404;

/**
 * API-token rotation against Cloudflare, on token-warden's own token ("API Tokens Write" for user
 * tokens, "Account API Tokens Write" for account-owned ones). Mutations are never retried blindly:
 * a retry reads back first (a create's token by name, a roll's `modified_on`), so a lost answer
 * neither leaves an orphan nor kills a value twice unseen.
 */
export function createApiTokenRotationActivities(deps: ApiTokenRotationDeps) {
  const warden = (purpose: 'reads' | 'mutations') => deps.wardenClient(purpose);

  function entryOf(key: Key) {
    const entry = findApiToken(deps.inventory, key.accountId, key.tokenName);
    if (!entry?.token.rotate)
      throw permanentFailure('UnknownApiToken', `API token ${key.tokenName} is not in the inventory with rotate:`);
    return entry;
  }

  const currentTokenId = (key: Key) => currentApiTokenId(deps, key);
  const read = (kind: TokenKind, accountId: string, tokenId: string) =>
    getToken(warden('reads'), kind, accountId, tokenId);

  async function listByName(kind: TokenKind, accountId: string, name: string) {
    const client = warden('reads');
    const listing =
      kind === 'account'
        ? client.accounts.tokens.list({ account_id: accountId, per_page: MAX_PAGE_SIZE })
        : client.user.tokens.list({ per_page: MAX_PAGE_SIZE });
    return (await listAll(listing, MAX_PAGE_SIZE)).filter((t) => t.name === name);
  }

  async function roll(client: Cloudflare, kind: TokenKind, accountId: string, tokenId: string): Promise<string> {
    return kind === 'account'
      ? client.accounts.tokens.value.update(tokenId, { account_id: accountId })
      : client.user.tokens.value.update(tokenId);
  }

  async function stage(key: Key, ref: string, tokenId: string, value: string, orphans: string[]) {
    const staged = await deps.pending.stagePending(key, ref, { clientId: tokenId, clientSecret: value });
    return { ref, fingerprint: staged.fingerprint, tokenId, clientId: tokenId, orphansDeleted: orphans };
  }

  async function alreadyStaged(ref: string): Promise<IssuedApiToken | undefined> {
    const staged = await findStaged(deps.pending, ref);
    if (!staged) return undefined;
    const { clientId } = await openStaged(deps.pending, ref);
    return { ref, fingerprint: staged.fingerprint, tokenId: clientId, clientId, orphansDeleted: [] };
  }

  const self = createSelfTokenChecks(deps, warden);

  return {
    /** Step 1: the token as Cloudflare has it now. */
    async resolveApiToken(key: Key): Promise<ResolvedApiToken> {
      const { token } = entryOf(key);
      try {
        const own = token.self ? { currentRef: await self.recordSelf(key, token) } : undefined;
        const snapshot = await read(token.kind, key.accountId, await currentTokenId(key));
        const { id: tokenId, name, modifiedOn, expiresOn } = snapshot;
        return { tokenId, kind: token.kind, name, modifiedOn, expiresOn, ...(own ? { self: own } : {}) };
      } catch (error) {
        throw toActivityFailure(error, `resolve API token ${key.tokenName}`);
      }
    },

    /**
     * Step 2, successor: a new token with exactly the old one's policies and condition, and a
     * fresh expiry. A retry finds what an earlier attempt did: staged under `ref` (done), or a
     * token of the successor's name issued since `notBefore` that nobody ever saw the value of
     * (an orphan): it is deleted before creating again.
     */
    async createSuccessorApiToken(
      input: Key & {
        kind: TokenKind;
        oldTokenId: string;
        ref: string;
        name: string;
        notBefore: string;
        expiresOn: string;
      },
    ): Promise<IssuedApiToken> {
      const { kind, accountId } = input;
      try {
        const orphans: string[] = [];
        if (Context.current().info.attempt > 1) {
          const staged = await alreadyStaged(input.ref);
          if (staged) return staged;
          const since = Date.parse(input.notBefore);
          for (const t of await listByName(kind, accountId, input.name)) {
            // Only a token known to be issued during this run: one whose issue time is unknown is not ours to delete.
            const issuedAt = Date.parse(t.issued_on ?? '');
            if (t.id === undefined || t.id === input.oldTokenId || !(issuedAt >= since)) continue;
            await deleteToken(warden('mutations'), kind, accountId, t.id);
            orphans.push(t.id);
          }
        }
        const old = await read(kind, accountId, input.oldTokenId);
        const body = {
          name: input.name,
          policies: old.policies.map(sdkPolicy),
          expires_on: input.expiresOn,
          ...(old.condition ? { condition: old.condition } : {}),
        };
        const client = warden('mutations');
        const created =
          kind === 'account'
            ? await client.accounts.tokens.create({ account_id: accountId, ...body })
            : await client.user.tokens.create(body);
        if (!created.id || !created.value)
          throw permanentFailure('CloudflareContract', 'Cloudflare created a token without an id or a value');
        return await stage(input, input.ref, created.id, created.value, orphans);
      } catch (error) {
        throw toActivityFailure(error, `create a successor of API token ${input.tokenName}`);
      }
    },

    /**
     * Step 2, roll (and an emergency's kill): a new value for the same token; the old one dies at
     * once. A retry whose token changed since resolve (`modified_on`) with nothing staged was
     * rolled by the lost attempt: its value is gone for good, and the run must issue a successor.
     * `stage: false` (an emergency kill) throws the new value away: the successor is what the
     * stores get.
     */
    async rollApiTokenValue(
      input: Key & { kind: TokenKind; tokenId: string; ref: string; modifiedOn: string | null; stage: boolean },
    ): Promise<IssuedApiToken | null> {
      const { kind, accountId, tokenId } = input;
      try {
        if (Context.current().info.attempt > 1) {
          const staged = await alreadyStaged(input.ref);
          if (staged) return staged;
          const now = await read(kind, accountId, tokenId);
          if (now.modifiedOn !== input.modifiedOn) {
            if (!input.stage) return null;
            throw permanentFailure(
              'RolledValueLost',
              `API token ${input.tokenName} was rolled but its new value never reached token-warden`,
            );
          }
        }
        const value = await roll(warden('mutations'), kind, accountId, tokenId);
        return input.stage ? await stage(input, input.ref, tokenId, value, []) : null;
      } catch (error) {
        throw toActivityFailure(error, `roll API token ${input.tokenName}`);
      }
    },

    /** Retire (and undoing a successor): the token goes; one already gone is done. */
    async deleteApiToken(input: Key & { kind: TokenKind; tokenId: string }): Promise<void> {
      try {
        await deleteToken(warden('mutations'), input.kind, input.accountId, input.tokenId);
      } catch (error) {
        throw toActivityFailure(error, `delete API token ${input.tokenName}`);
      }
    },

    /**
     * Step 4 for an API token: what a consumer needs. The staged value passes `tokens/verify` as
     * the token it was issued as, and its policies hold every required permission of the
     * inventory (the health check's evaluation). Not yet accepted is retried; a missing
     * permission will not appear by waiting.
     */
    async verifyApiTokenSuccessor(input: Key & { ref: string }): Promise<{ status: number }> {
      const { token } = entryOf(input);
      const { clientId: tokenId, clientSecret: value } = await openStaged(deps.pending, input.ref);
      const own = deps.cloudflare({ apiToken: value, baseURL: deps.cloudflareBaseURL, purpose: 'reads' });
      let verified: { id: string; status: string };
      try {
        verified = await verifyToken(own, token.kind, input.accountId);
      } catch (error) {
        throw retryableFailure(
          'ApiTokenNotAccepted',
          `Cloudflare does not accept the new value of ${input.tokenName}`,
          [describeCloudflareError(error)],
        );
      }
      if (verified.id !== tokenId || verified.status !== 'active')
        throw retryableFailure('ApiTokenNotAccepted', `the new value of ${input.tokenName} is ${verified.status}`);
      if (token.self) await self.checkSwitched(input, token, tokenId, value);
      if (token.requiredPermissions.length === 0) return { status: 200 };
      const listing = await createTokenHealthActivities(deps).listPermissionGroups({ accountId: input.accountId });
      if (!listing.groups) throw retryableFailure('ApiTokenNotAccepted', `no permission groups: ${listing.problem}`);
      const snapshot = await read(token.kind, input.accountId, tokenId).catch((error: unknown) => {
        throw toActivityFailure(error, `read the successor of ${input.tokenName}`);
      });
      const missing = evaluateRequirements(token.requiredPermissions, snapshot.policies, {
        kind: token.kind,
        accountId: input.accountId,
        catalogue: new PermissionCatalogue(listing.groups),
      }).filter((r) => r.state !== 'present');
      if (missing.length)
        throw permanentFailure(
          'ApiTokenLacksPermission',
          `the new token of ${input.tokenName} lacks ${missing.map((r) => `${r.permission} (${r.state})`).join(', ')}`,
        );
      return { status: 200 };
    },
  };
}

/** The token id to rotate: the one token-warden last propagated, else the inventory's, else the value's own. */
export async function currentApiTokenId(deps: ApiTokenRotationDeps, key: Key): Promise<string> {
  const current = await deps.pending.current(key);
  if (current) return (await openStaged(deps.pending, current.ref)).clientId;
  const token = findApiToken(deps.inventory, key.accountId, key.tokenName)?.token;
  if (!token) throw permanentFailure('UnknownApiToken', `API token ${key.tokenName} is not in the inventory`);
  if (token.id) return token.id;
  const value = deps.readSecret(token.secretFrom);
  if (!value) throw permanentFailure('ApiTokenValueMissing', `no value for API token ${key.tokenName}`);
  const client = deps.cloudflare({ apiToken: value, baseURL: deps.cloudflareBaseURL, purpose: 'reads' });
  return (await verifyToken(client, token.kind, key.accountId)).id;
}

async function deleteToken(client: Cloudflare, kind: TokenKind, accountId: string, tokenId: string): Promise<void> {
  try {
    if (kind === 'account') await client.accounts.tokens.delete(tokenId, { account_id: accountId });
    else await client.user.tokens.delete(tokenId);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
}

export type ApiTokenRotationActivities = ReturnType<typeof createApiTokenRotationActivities>;
