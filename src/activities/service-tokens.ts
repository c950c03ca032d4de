import { Context } from '@temporalio/activity';
import type { TokenKey } from '../secrets/pending-secrets';
import { describeCloudflareError, toActivityFailure } from './cloudflare-errors';
import { permanentFailure } from './failure-types';
import { findStaged, openStaged } from './pending-secret-access';
import { serviceTokenAccess, type ServiceTokenDeps } from './service-token-access';
import {
  alreadyIssued,
  toState,
  type IssuedSecret,
  type ResolvedServiceToken,
  type ServiceTokenState,
} from './service-token-state';

export type { ServiceTokenDeps } from './service-token-access';
export type { IssuedSecret, ResolvedServiceToken, ServiceTokenState } from './service-token-state';

export function createServiceTokenActivities(deps: ServiceTokenDeps) {
  const { locate, listByName, read, resolveByName, rotateAndStage, rotateKnownAndStage, stageIssued } =
    serviceTokenAccess(deps);

  /**
   * An emergency's kill by the id discovery recorded: the rotate is the first request, and the
   * list resolve would have sent before it comes after. Null when discovery knows no single token
   * of this name, or Cloudflare no longer has that id: the caller lists first, as before.
   */
  async function killKnown(
    token: TokenKey & { ref: string },
  ): Promise<{ resolved: ResolvedServiceToken; issued: IssuedSecret } | null> {
    // Postgres away must not hold an emergency back: it lists instead.
    const tokenId = await deps.discovered?.serviceTokenIdByName(token.accountId, token.tokenName).catch(() => null);
    if (!tokenId) return null;
    const issued = await rotateKnownAndStage(token, {
      tokenId,
      ref: token.ref,
      previousSecretExpiresAt: new Date().toISOString(),
      currentVersion: 0,
    });
    if (!issued) return null;
    const namesakes = await listByName(token);
    // Renamed since discovery: the credential the stores hold is the one just killed all the same.
    const after = namesakes.find((t) => t.tokenId === tokenId) ?? (await read(token, tokenId));
    if (!after)
      throw permanentFailure('ServiceTokenNotFound', `service token ${token.tokenName} disappeared after its kill`);
    const strays = namesakes
      .filter((t) => t.tokenId !== tokenId)
      .sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''))
      .map((t) => t.tokenId);
    return {
      // What resolve would have read before the rotate: one secret version back.
      resolved: { ...after, secretVersion: after.secretVersion - 1, strays },
      issued: { ...issued, secretVersion: after.secretVersion },
    };
  }

  return {
    /**
     * Step 1. The token as Cloudflare has it now. Several tokens of one name (a replace that
     * was interrupted) resolve to the oldest, the one consumers were given first; the others
     * come back as `strays`, for the rotation to retire once every store holds its successor.
     */
    async resolveServiceToken(token: TokenKey): Promise<ResolvedServiceToken> {
      return resolveByName(token);
    },

    async readServiceToken(input: TokenKey & { tokenId: string }): Promise<ServiceTokenState | null> {
      return read(input, input.tokenId);
    },

    /**
     * Step 2, rotate-secret. `ref` is chosen by the workflow before the call, so a retry can
     * tell "already staged" from "never issued". A version beyond the expected one with nothing
     * staged means Cloudflare rotated but the secret never reached us: it is gone for good, and
     * rotating again would kill the secret the stores still hold, so the failure is final and
     * the workflow recovers blue/green.
     */
    async issueRotatedSecret(
      input: TokenKey & { tokenId: string; expectedVersion: number; ref: string; previousSecretExpiresAt: string },
    ): Promise<IssuedSecret> {
      // A first attempt goes straight to rotate (resolve has just read the token); a retry
      // reads back first, because the earlier attempt may have been applied.
      if (Context.current().info.attempt > 1) {
        const staged = await findStaged(deps.pending, input.ref);
        const current = await read(input, input.tokenId);
        if (!current)
          throw permanentFailure(
            'ServiceTokenNotFound',
            `service token ${input.tokenName} disappeared before rotation`,
          );
        if (staged) return alreadyIssued(staged, current);
        if (current.secretVersion > input.expectedVersion) {
          throw permanentFailure(
            'RotatedSecretLost',
            `service token ${input.tokenName} was rotated to version ${current.secretVersion} but its new secret never reached token-warden`,
            [{ secretVersion: current.secretVersion, previousSecretExpiresAt: current.previousSecretExpiresAt }],
          );
        }
      }
      return rotateAndStage(input, {
        tokenId: input.tokenId,
        ref: input.ref,
        previousSecretExpiresAt: input.previousSecretExpiresAt,
        currentVersion: input.expectedVersion,
      });
    },

    /**
     * Steps 1 and 2 of an emergency revoke with no rotation running, in one activity so the
     * compromised secret dies as soon as possible: resolve, then rotate with the previous
     * secret expiring now. Null when the token cannot be rotated in place (zone-scoped): the
     * run replaces it instead. A retry after a lost answer rotates again, which is safe here and
     * only here: the first rotate already killed the compromised secret, and what a second one
     * kills is a secret nobody ever saw.
     */
    async revokeServiceTokenSecret(
      token: TokenKey & { ref: string },
    ): Promise<{ resolved: ResolvedServiceToken; issued: IssuedSecret } | null> {
      if (locate(token).entry.token.zoneId) return null;
      const firstAttempt = Context.current().info.attempt === 1;
      const known = firstAttempt ? await killKnown(token) : null;
      if (known) return known;
      const resolved = await resolveByName(token);
      const staged = firstAttempt ? undefined : await findStaged(deps.pending, token.ref);
      if (staged) return { resolved, issued: alreadyIssued(staged, resolved) };
      const issued = await rotateAndStage(token, {
        tokenId: resolved.tokenId,
        ref: token.ref,
        previousSecretExpiresAt: new Date().toISOString(),
        currentVersion: resolved.secretVersion,
      });
      return { resolved, issued };
    },

    /**
     * Step 2, replace (and the recovery of a lost rotate). A token of this name created after
     * `notBefore` that is not staged is the product of a create whose answer was lost: nobody
     * ever saw its secret, so it has no consumers and is deleted before creating again. The old
     * token and the `strays` resolve found existed before this run and are never taken for one.
     */
    async createReplacementToken(
      input: TokenKey & { oldTokenId: string; strays?: string[]; ref: string; notBefore: string; duration: string },
    ): Promise<IssuedSecret> {
      const { scope } = locate(input);
      if (Context.current().info.attempt > 1) {
        const staged = await findStaged(deps.pending, input.ref);
        const namesakes = await listByName(input);
        if (staged) {
          const { clientId } = await openStaged(deps.pending, input.ref);
          const mine = namesakes.find((t) => t.clientId === clientId);
          if (mine) return alreadyIssued(staged, mine);
          throw permanentFailure(
            'ReplacementTokenVanished',
            `the replacement token of ${input.tokenName} vanished after it was issued`,
          );
        }
        const existedBefore = new Set([input.oldTokenId, ...(input.strays ?? [])]);
        const orphans = namesakes.filter(
          (t) => !existedBefore.has(t.tokenId) && (t.createdAt ?? '') >= input.notBefore,
        );
        for (const orphan of orphans) {
          try {
            await deps.wardenClient('mutations').zeroTrust.access.serviceTokens.delete(orphan.tokenId, scope);
          } catch (error) {
            if (describeCloudflareError(error).httpStatus !== 404)
              throw toActivityFailure(error, `delete orphaned service token ${input.tokenName}`);
          }
        }
      }
      let created;
      try {
        created = await deps
          .wardenClient('mutations')
          .zeroTrust.access.serviceTokens.create({ ...scope, name: input.tokenName, duration: input.duration });
      } catch (error) {
        throw toActivityFailure(error, `create service token ${input.tokenName}`);
      }
      if (!created.id) throw permanentFailure('CloudflareContract', 'create answered without a client secret');
      return stageIssued(input, input.ref, 'create', created, { tokenId: created.id, secretVersion: 1 });
    },

    /** Moves the previous secret's expiry: later to give propagation time, `now` to retire it. Idempotent. */
    async setPreviousSecretExpiry(input: TokenKey & { tokenId: string; expiresAt: string }): Promise<void> {
      const { scope } = locate(input);
      try {
        await deps.wardenClient('mutations').zeroTrust.access.serviceTokens.update(input.tokenId, {
          ...scope,
          previous_client_secret_expires_at: input.expiresAt,
        });
      } catch (error) {
        throw toActivityFailure(error, `set previous secret expiry of ${input.tokenName}`);
      }
    },

    /** Retire (replace) and compensation: delete a token; already gone counts as done. */
    async deleteServiceToken(input: TokenKey & { tokenId: string }): Promise<void> {
      const { scope } = locate(input);
      try {
        await deps.wardenClient('mutations').zeroTrust.access.serviceTokens.delete(input.tokenId, scope);
      } catch (error) {
        if (describeCloudflareError(error).httpStatus === 404) return;
        throw toActivityFailure(error, `delete service token ${input.tokenName}`);
      }
    },

    /**
     * Step 5 (replace): evidence that a consumer uses the new token. One GET; `reported` is false
     * when Cloudflare's answer has no `last_seen_at` at all (the wait then falls back to its timer),
     * `lastSeenAt` null when it has one but the token was never seen. The SDK's type lacks the
     * field, so it is read from the answer as sent.
     */
    async readServiceTokenLastSeen(
      input: TokenKey & { tokenId: string },
    ): Promise<{ reported: boolean; lastSeenAt: string | null }> {
      const { scope } = locate(input);
      let answer: unknown;
      try {
        answer = await deps.wardenClient('reads').zeroTrust.access.serviceTokens.get(input.tokenId, scope);
      } catch (error) {
        throw toActivityFailure(error, `read service token ${input.tokenName}`);
      }
      if (typeof answer !== 'object' || answer === null || !('last_seen_at' in answer))
        return { reported: false, lastSeenAt: null };
      const seen = answer.last_seen_at;
      if (typeof seen !== 'string' || Number.isNaN(Date.parse(seen))) return { reported: true, lastSeenAt: null };
      return { reported: true, lastSeenAt: new Date(seen).toISOString() };
    },

    /** Expiry sweep's lighter option: extend `expires_at` by the token's duration. */
    async refreshServiceToken(input: TokenKey & { tokenId: string }): Promise<ServiceTokenState> {
      const { scope } = locate(input);
      try {
        return toState(
          await deps
            .wardenClient('mutations')
            .zeroTrust.access.serviceTokens.refresh(input.tokenId, { ...scope, account_id: scope.account_id ?? '' }),
        );
      } catch (error) {
        throw toActivityFailure(error, `refresh service token ${input.tokenName}`);
      }
    },
  };
}

export type ServiceTokenActivities = ReturnType<typeof createServiceTokenActivities>;
