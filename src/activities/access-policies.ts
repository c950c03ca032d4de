import Cloudflare from 'cloudflare';
import {
  createInMemoryPolicyIndex,
  type IndexedPolicy,
  type PolicyIndex,
  type PolicyIndexRefresh,
  type PolicyRef,
} from '../db/access-policy-index';
import {
  namesToken,
  namesTokenAnywhere,
  RULE_LISTS,
  tokenRule,
  tokensNamed,
  writable,
  type Policy,
} from './access-policy-rules';
import { toActivityFailure } from './cloudflare-errors';
import { listAll } from '../cloudflare/pages';

/** Page size of the Access lists. */
const PER_PAGE = 100;
import { inProcessPolicyLock, type PolicyLock } from './policy-lock';

export type { PolicyIndex, PolicyRef } from '../db/access-policy-index';
export { inProcessPolicyLock, type PolicyLock } from './policy-lock';

/**
 * How old the policy index may grow before a lookup rebuilds it from a full scan. token-warden's
 * own edits keep it current; the bound is for everyone else's: a policy someone edits in the
 * dashboard to name a token is seen at the next scan, so at most this long after the edit (one
 * that removes a token is corrected sooner, by the first edit that reads the policy).
 */
export const DEFAULT_POLICY_INDEX_MAX_AGE_MS = 10 * 60 * 1000;

export interface AccessPolicyDeps {
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  /**
   * Serialises the edits of each policy. Production passes a Postgres advisory lock, held across
   * the whole worker fleet; without one, edits are serialised within this process only.
   */
  policyLock?: PolicyLock;
  /**
   * Which policies name which tokens. Production passes the Postgres index shared by the fleet
   * (`createPostgresPolicyIndex`). Without one, every activity set of this process shares one in
   * memory: right for a single worker process, but in a fleet each process would miss the others'
   * binds until its next scan, and bind a new token beside an old one in too few policies.
   */
  policyIndex?: PolicyIndex;
  /** See DEFAULT_POLICY_INDEX_MAX_AGE_MS. */
  policyIndexMaxAgeMs?: number;
}

/** One per process, shared by every activity set built without a lock of its own. */
const processPolicyLock = inProcessPolicyLock();
/** One per process, shared by every activity set built without an index of its own (one per lane). */
const processPolicyIndex = createInMemoryPolicyIndex();

const isNotFound = (error: unknown) => error instanceof Cloudflare.APIError && error.status === 404;

type Edited = { outcome: 'written' | 'unchanged'; policy: Policy } | { outcome: 'gone' };

/**
 * Access policies that name a service token. The replace strategy binds the new token beside
 * the old one in each of them before any consumer switches, and unbinds the old one only at
 * retire, so every credential in a store is accepted by the apps at every moment.
 *
 * Finding them: Cloudflare has no "policies naming this token" query; the only way is a full scan
 * (every reusable policy, every app, each app's policies: 2 + apps requests). The scan builds an
 * index (src/db/access-policy-index.ts) that every edit then keeps current, so a bind or an unbind
 * costs one read and one write per policy naming its token, and a scan runs once per bound
 * (`policyIndexMaxAgeMs`) per account, not once per edit.
 *
 * An edit writes a policy's whole rule lists back: Cloudflare has no conditional update. Two
 * rotations editing one policy at once (two tokens named by one app's policy) would each write
 * back what they had read, and the later write would drop the earlier one's change: a token
 * just bound falls out of the policy and its consumers are refused. So each policy is read
 * afresh and written back under its lock; only this run's own token decides which policies to
 * edit, and no other run changes the rules that name it, so the lookup itself needs no lock.
 */
export function createAccessPolicyActivities(deps: AccessPolicyDeps) {
  const locked = deps.policyLock ?? processPolicyLock;
  const index = deps.policyIndex ?? processPolicyIndex;
  const maxAgeMs = deps.policyIndexMaxAgeMs ?? DEFAULT_POLICY_INDEX_MAX_AGE_MS;

  /** The full scan: every reusable policy, then each app's own. */
  async function everyPolicy(accountId: string): Promise<IndexedPolicy[]> {
    const client = deps.wardenClient('reads');
    const found = new Map<string, IndexedPolicy>();
    for (const policy of await listAll(
      client.zeroTrust.access.policies.list({ account_id: accountId, per_page: PER_PAGE }),
      PER_PAGE,
    )) {
      const p = policy as unknown as Policy;
      if (p.id) found.set(p.id, { policyId: p.id, name: p.name ?? p.id, tokenIds: tokensNamed(p) });
    }
    for (const app of await listAll(
      client.zeroTrust.access.applications.list({ account_id: accountId, per_page: PER_PAGE }),
      PER_PAGE,
    )) {
      const appId = (app as { id?: string }).id;
      if (!appId) continue;
      for (const policy of await listAll(
        client.zeroTrust.access.applications.policies.list(appId, { account_id: accountId, per_page: PER_PAGE }),
        PER_PAGE,
      )) {
        const p = policy as unknown as Policy;
        // The app's list repeats the reusable policies it uses; those are edited once, at the account.
        if (p.id && !found.has(p.id))
          found.set(p.id, { policyId: p.id, name: p.name ?? p.id, appId, tokenIds: tokensNamed(p) });
      }
    }
    return [...found.values()];
  }

  const refresh = (accountId: string): PolicyIndexRefresh => ({ maxAgeMs, scan: () => everyPolicy(accountId) });

  /** The policy as it is now; undefined once it is gone. */
  async function read(accountId: string, ref: PolicyRef): Promise<Policy | undefined> {
    const client = deps.wardenClient('reads');
    try {
      const policy = ref.appId
        ? await client.zeroTrust.access.applications.policies.get(ref.policyId, {
            account_id: accountId,
            app_id: ref.appId,
          })
        : await client.zeroTrust.access.policies.get(ref.policyId, { account_id: accountId });
      return policy as unknown as Policy;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * Read afresh, change, write back: under the policy's lock, so no concurrent edit is lost.
   * `change` answers null when the policy already is as wanted. True when it was written.
   *
   * Then the index learns what the policy names now, `decides` being the caller's own tokens. It
   * learns after the lock is released, so the lock never waits on the database (the advisory lock
   * holds a pool connection, and PGlite runs no other connection's query while its transaction is
   * open). Out of lock order its writes stay right: they only add tokens, but the caller's own,
   * which no other run edits meanwhile.
   */
  async function edit(
    accountId: string,
    ref: PolicyRef,
    change: (policy: Policy) => Policy | null,
    decides: readonly string[],
  ): Promise<boolean> {
    const edited = await locked(`access-policy/${accountId}/${ref.policyId}`, async (): Promise<Edited> => {
      const current = await read(accountId, ref);
      if (!current) return { outcome: 'gone' };
      const next = change(current);
      if (!next) return { outcome: 'unchanged', policy: current };
      await put(accountId, ref, next);
      return { outcome: 'written', policy: next };
    });
    if (edited.outcome === 'gone') {
      await index.forget(accountId, ref.policyId);
      return false;
    }
    await index.record(
      accountId,
      { ...ref, name: edited.policy.name ?? ref.name, tokenIds: tokensNamed(edited.policy) },
      decides,
    );
    return edited.outcome === 'written';
  }

  async function put(accountId: string, ref: PolicyRef, policy: Policy): Promise<void> {
    const client = deps.wardenClient('mutations');
    const body = { account_id: accountId, ...writable(policy) } as Parameters<
      typeof client.zeroTrust.access.policies.update
    >[1];
    if (ref.appId)
      await client.zeroTrust.access.applications.policies.update(ref.policyId, { ...body, app_id: ref.appId });
    else await client.zeroTrust.access.policies.update(ref.policyId, body);
  }

  return {
    /** The policies naming the token, each read to confirm it (one read per policy the index lists). */
    async findPoliciesNamingToken(input: { accountId: string; tokenId: string }): Promise<PolicyRef[]> {
      const found: PolicyRef[] = [];
      try {
        for (const ref of await index.policiesNaming(input.accountId, input.tokenId, refresh(input.accountId))) {
          const policy = await read(input.accountId, ref);
          if (!policy) {
            await index.forget(input.accountId, ref.policyId);
            continue;
          }
          // Only adds: this read may be older than an edit of the token by the run that owns it.
          await index.record(input.accountId, { ...ref, tokenIds: tokensNamed(policy) });
          if (namesTokenAnywhere(policy, input.tokenId)) found.push(ref);
        }
      } catch (error) {
        throw toActivityFailure(error, 'list Access policies');
      }
      return found;
    },

    /** Adds `newTokenId` to every include list that names `besideTokenId`. Idempotent. */
    async bindTokenToPolicies(input: {
      accountId: string;
      besideTokenId: string;
      newTokenId: string;
    }): Promise<PolicyRef[]> {
      const changed: PolicyRef[] = [];
      const bind = (policy: Policy): Policy | null => {
        const include = policy.include ?? [];
        if (
          !include.some((rule) => namesToken(rule, input.besideTokenId)) ||
          include.some((rule) => namesToken(rule, input.newTokenId))
        )
          return null;
        return { ...policy, include: [...include, tokenRule(input.newTokenId)] };
      };
      try {
        for (const ref of await index.policiesNaming(input.accountId, input.besideTokenId, refresh(input.accountId))) {
          // Recorded before the write: should the write be applied but its answer lost, and every
          // retry fail, the compensating unbind still finds the new token here (the edit's own
          // read corrects it when the write did not happen).
          await index.record(input.accountId, { ...ref, tokenIds: [input.newTokenId] });
          if (await edit(input.accountId, ref, bind, [input.besideTokenId, input.newTokenId])) changed.push(ref);
        }
      } catch (error) {
        throw toActivityFailure(error, 'bind service token to Access policies');
      }
      return changed;
    },

    /** Removes every rule naming `tokenId`, leaving the rest of each policy as it was. Idempotent. */
    async unbindTokenFromPolicies(input: { accountId: string; tokenId: string }): Promise<PolicyRef[]> {
      const changed: PolicyRef[] = [];
      const unbind = (policy: Policy): Policy | null => {
        if (!namesTokenAnywhere(policy, input.tokenId)) return null;
        const next: Policy = { ...policy };
        for (const list of RULE_LISTS)
          if (policy[list]) next[list] = policy[list]!.filter((rule) => !namesToken(rule, input.tokenId));
        return next;
      };
      try {
        for (const ref of await index.policiesNaming(input.accountId, input.tokenId, refresh(input.accountId))) {
          if (await edit(input.accountId, ref, unbind, [input.tokenId])) changed.push(ref);
        }
      } catch (error) {
        throw toActivityFailure(error, 'unbind service token from Access policies');
      }
      return changed;
    },
  };
}
