import type Cloudflare from 'cloudflare';
import { toActivityFailure } from './cloudflare-errors';

/** Runs `work` while no other holder of the same key runs. */
export type PolicyLock = <T>(key: string, work: () => Promise<T>) => Promise<T>;

export interface AccessPolicyDeps {
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  /**
   * Serialises the edits of each policy. Production passes a Postgres advisory lock, held across
   * the whole worker fleet; without one, edits are serialised within this process only.
   */
  policyLock?: PolicyLock;
}

/** Edits queue up per key, one after the other, within this process. */
export function inProcessPolicyLock(): PolicyLock {
  const tails = new Map<string, Promise<void>>();
  return async (key, work) => {
    const before = tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = before.then(() => mine);
    tails.set(key, tail);
    await before;
    try {
      return await work();
    } finally {
      release();
      if (tails.get(key) === tail) tails.delete(key);
    }
  };
}

/** One per process, shared by every activity set built without a lock of its own. */
const processPolicyLock = inProcessPolicyLock();

/** Where a policy lives: reusable policies and app-scoped ones are edited through different paths. */
export interface PolicyRef {
  policyId: string;
  name: string;
  /** Set for app-scoped policies; reusable ones are edited at the account level. */
  appId?: string;
}

type Rule = Record<string, unknown>;
type Policy = { id?: string; name?: string; decision?: string; include?: Rule[]; exclude?: Rule[]; require?: Rule[]; reusable?: boolean } & Record<string, unknown>;

const RULE_LISTS = ['include', 'require', 'exclude'] as const;
/** Everything a PUT must send back so the replace keeps the policy as it was. */
const WRITABLE_FIELDS = ['name', 'decision', 'include', 'exclude', 'require', 'approval_groups', 'approval_required', 'isolation_required', 'purpose_justification_prompt', 'purpose_justification_required', 'session_duration', 'precedence'];

/** Page size of every list; a shorter page is the last one (no extra request for an empty page). */
const PER_PAGE = 100;

interface ListPage<T> {
  getPaginatedItems(): T[];
  getNextPage(): Promise<ListPage<T>>;
}

async function listAll<T>(first: PromiseLike<ListPage<T>>): Promise<T[]> {
  const items: T[] = [];
  for (let page = await first; ; page = await page.getNextPage()) {
    const batch = page.getPaginatedItems();
    items.push(...batch);
    if (batch.length < PER_PAGE) return items;
  }
}

const namesToken = (rule: Rule, tokenId: string) => (rule.service_token as { token_id?: string } | undefined)?.token_id === tokenId;
const tokenRule = (tokenId: string): Rule => ({ service_token: { token_id: tokenId } });

function writable(policy: Policy): Record<string, unknown> {
  return Object.fromEntries(WRITABLE_FIELDS.filter((field) => policy[field] !== undefined && policy[field] !== null).map((field) => [field, policy[field]]));
}

/**
 * Access policies that name a service token. The replace strategy binds the new token beside
 * the old one in each of them before any consumer switches, and unbinds the old one only at
 * retire, so every credential in a store is accepted by the apps at every moment.
 *
 * An edit writes a policy's whole rule lists back: Cloudflare has no conditional update. Two
 * rotations editing one policy at once (two tokens named by one app's policy) would each write
 * back what they had read, and the later write would drop the earlier one's change: a token
 * just bound falls out of the policy and its consumers are refused. So each policy is read
 * afresh and written back under its lock; only this run's own token decides which policies to
 * edit, and no other run changes the rules that name it, so the listing itself needs no lock.
 */
export function createAccessPolicyActivities(deps: AccessPolicyDeps) {
  const locked = deps.policyLock ?? processPolicyLock;
  async function everyPolicy(accountId: string): Promise<Array<{ ref: PolicyRef; policy: Policy }>> {
    const client = deps.wardenClient('reads');
    const found = new Map<string, { ref: PolicyRef; policy: Policy }>();
    for (const policy of await listAll(client.zeroTrust.access.policies.list({ account_id: accountId, per_page: PER_PAGE }))) {
      const p = policy as unknown as Policy;
      if (p.id) found.set(p.id, { ref: { policyId: p.id, name: p.name ?? p.id }, policy: p });
    }
    for (const app of await listAll(client.zeroTrust.access.applications.list({ account_id: accountId, per_page: PER_PAGE }))) {
      const appId = (app as { id?: string }).id;
      if (!appId) continue;
      for (const policy of await listAll(client.zeroTrust.access.applications.policies.list(appId, { account_id: accountId, per_page: PER_PAGE }))) {
        const p = policy as unknown as Policy;
        // The app's list repeats the reusable policies it uses; those are edited once, at the account.
        if (p.id && !found.has(p.id)) found.set(p.id, { ref: { policyId: p.id, name: p.name ?? p.id, appId }, policy: p });
      }
    }
    return [...found.values()];
  }

  /** The policy as it is now. */
  async function read(accountId: string, ref: PolicyRef): Promise<Policy> {
    const client = deps.wardenClient('reads');
    const policy = ref.appId
      ? await client.zeroTrust.access.applications.policies.get(ref.policyId, { account_id: accountId, app_id: ref.appId })
      : await client.zeroTrust.access.policies.get(ref.policyId, { account_id: accountId });
    return policy as unknown as Policy;
  }

  /**
   * Read afresh, change, write back: under the policy's lock, so no concurrent edit is lost.
   * `change` answers null when the policy already is as wanted. True when it was written.
   */
  async function edit(accountId: string, ref: PolicyRef, change: (policy: Policy) => Policy | null): Promise<boolean> {
    return locked(`access-policy/${accountId}/${ref.policyId}`, async () => {
      const next = change(await read(accountId, ref));
      if (next) await put(accountId, ref, next);
      return next !== null;
    });
  }

  async function put(accountId: string, ref: PolicyRef, policy: Policy): Promise<void> {
    const client = deps.wardenClient('mutations');
    const body = { account_id: accountId, ...writable(policy) } as Parameters<typeof client.zeroTrust.access.policies.update>[1];
    if (ref.appId) await client.zeroTrust.access.applications.policies.update(ref.policyId, { ...body, app_id: ref.appId });
    else await client.zeroTrust.access.policies.update(ref.policyId, body);
  }

  return {
    async findPoliciesNamingToken(input: { accountId: string; tokenId: string }): Promise<PolicyRef[]> {
      try {
        const all = await everyPolicy(input.accountId);
        return all.filter(({ policy }) => RULE_LISTS.some((list) => (policy[list] ?? []).some((rule) => namesToken(rule, input.tokenId)))).map(({ ref }) => ref);
      } catch (error) {
        throw toActivityFailure(error, 'list Access policies');
      }
    },

    /** Adds `newTokenId` to every include list that names `besideTokenId`. Idempotent. */
    async bindTokenToPolicies(input: { accountId: string; besideTokenId: string; newTokenId: string }): Promise<PolicyRef[]> {
      const changed: PolicyRef[] = [];
      const bind = (policy: Policy): Policy | null => {
        const include = policy.include ?? [];
        if (!include.some((rule) => namesToken(rule, input.besideTokenId)) || include.some((rule) => namesToken(rule, input.newTokenId))) return null;
        return { ...policy, include: [...include, tokenRule(input.newTokenId)] };
      };
      try {
        for (const { ref, policy } of await everyPolicy(input.accountId)) {
          if (bind(policy) && (await edit(input.accountId, ref, bind))) changed.push(ref);
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
        if (!RULE_LISTS.some((list) => (policy[list] ?? []).some((rule) => namesToken(rule, input.tokenId)))) return null;
        const next: Policy = { ...policy };
        for (const list of RULE_LISTS) if (policy[list]) next[list] = policy[list]!.filter((rule) => !namesToken(rule, input.tokenId));
        return next;
      };
      try {
        for (const { ref, policy } of await everyPolicy(input.accountId)) {
          if (unbind(policy) && (await edit(input.accountId, ref, unbind))) changed.push(ref);
        }
      } catch (error) {
        throw toActivityFailure(error, 'unbind service token from Access policies');
      }
      return changed;
    },
  };
}
