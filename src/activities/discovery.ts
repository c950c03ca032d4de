import type Cloudflare from 'cloudflare';
import type { Inventory } from '../config';
import type { DiscoveredCredentialsRepository, DiscoveryRun } from '../db/discovered-credentials';
import type { HistoryRepository } from '../db/history-repository';
import {
  classifyApiToken,
  classifyServiceToken,
  knownApiTokens,
  userTokenAccounts,
  type KnownApiToken,
} from '../discovery/classify';
import {
  listedApiTokenSchema,
  listedServiceTokenSchema,
  type DiscoveredCredential,
  type DiscoveryScope,
} from '../discovery/credential-schemas';
import { listEveryPage, type ListedPage } from '../cloudflare/pages';
import type { z } from 'zod';
import { describeCloudflareError, toActivityFailure } from './cloudflare-errors';
import { permanentFailure, retryableFailure } from './failure-types';

export interface DiscoveryDeps {
  inventory: Pick<Inventory, 'accounts'>;
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  history: Pick<HistoryRepository, 'loadTokenIdentities'>;
  /** Absent in harnesses that never run discovery. */
  discovered?: Pick<DiscoveredCredentialsRepository, 'upsertCredentials' | 'finishRun'>;
  now?: () => Date;
}

/** What one listing activity found and what it cost: ids and counts only. */
export interface DiscoveryListing {
  /** The lists read in full: only their rows not found are marked gone. */
  covered: DiscoveryScope[];
  /** Lists token-warden's token may not read (403), as `what: why`; their rows are left as they were. */
  skipped: string[];
  credentials: number;
  unmanaged: number;
  withoutExpiry: number;
  /** Pages asked of Cloudflare: one per kind and account when each fits a page. */
  cloudflareCalls: number;
}

/** A finished run as the workflow returns it: its counts. */
export type DiscoverySummary = Omit<DiscoveryRun, 'workflowId' | 'triggeredBy' | 'startedAt' | 'finishedAt'>;

export interface FinishDiscoveryInput {
  runId: string;
  workflowId: string;
  triggeredBy: string;
  startedAt: string;
  accountIds: string[];
  covered: DiscoveryScope[];
  skipped: string[];
  cloudflareCalls: number;
}

interface Walked {
  covered: DiscoveryScope[];
  skipped: string[];
  calls: number;
}

function summarise(walked: Walked, credentials: DiscoveredCredential[]): DiscoveryListing {
  return {
    covered: walked.covered,
    skipped: walked.skipped,
    credentials: credentials.length,
    unmanaged: credentials.filter((c) => !c.managed).length,
    withoutExpiry: credentials.filter((c) => c.expiresAt === null).length,
    cloudflareCalls: walked.calls,
  };
}

/**
 * Discovery's reads of Cloudflare: one paginated list per kind and account, a page of the
 * largest size, no empty trailing page and no per-token read. Nothing is changed in Cloudflare.
 * Results go straight to Postgres; the workflow sees counts.
 */
export function createDiscoveryActivities(deps: DiscoveryDeps) {
  const now = deps.now ?? (() => new Date());
  const records = () => {
    if (!deps.discovered) throw permanentFailure('DiscoveryNotWired', 'this worker has no discovery records');
    return deps.discovered;
  };
  const account = (accountId: string) => {
    const found = deps.inventory.accounts.find((a) => a.id === accountId);
    if (!found) throw retryableFailure('UnknownAccount', `account ${accountId} is not in this worker's inventory`);
    return found;
  };
  /**
   * Every item of one list, or none when token-warden's token may not read it (a 403 is its
   * permissions, not a failure: the run goes on and says so). Anything else fails the activity.
   */
  async function list<T>(
    walked: Walked,
    scope: DiscoveryScope,
    what: string,
    fetchPage: (page: number, size: number) => Promise<ListedPage<T>>,
  ): Promise<T[]> {
    try {
      const listed = await listEveryPage(fetchPage);
      walked.calls += listed.requests;
      walked.covered.push(scope);
      return listed.items;
    } catch (error) {
      const info = describeCloudflareError(error);
      if (info.httpStatus !== 403) throw toActivityFailure(error, `list ${what}`);
      walked.calls += 1;
      walked.skipped.push(`${what}: HTTP 403 ${info.message}`);
      return [];
    }
  }
  function parsed<T>(schema: z.ZodType<T>, item: unknown, what: string): T {
    const result = schema.safeParse(item);
    if (!result.success) throw permanentFailure('CloudflareContract', `${what}: a listed item is malformed`);
    return result.data;
  }
  const known = async (): Promise<KnownApiToken[]> =>
    knownApiTokens(deps.inventory, await deps.history.loadTokenIdentities());

  return {
    /** The account's Access service tokens (account level and each zone its inventory names) and its account-owned API tokens. */
    async discoverAccountCredentials(input: { runId: string; accountId: string }): Promise<DiscoveryListing> {
      const store = records();
      const inventoryAccount = account(input.accountId);
      const client = deps.wardenClient('reads');
      const at = now();
      const found: DiscoveredCredential[] = [];
      const walked: Walked = { covered: [], skipped: [], calls: 0 };
      const zones = [...new Set(inventoryAccount.serviceTokens.flatMap((t) => (t.zoneId ? [t.zoneId] : [])))];
      for (const zoneId of [null, ...zones]) {
        const what = `service tokens of ${zoneId ? `zone ${zoneId}` : `account ${input.accountId}`}`;
        const scope = zoneId ? { zone_id: zoneId } : { account_id: input.accountId };
        const items = await list(
          walked,
          { accountId: input.accountId, kind: 'service-token', zoneId },
          what,
          (page, size) => client.zeroTrust.access.serviceTokens.list({ ...scope, page, per_page: size }),
        );
        for (const item of items)
          found.push(
            classifyServiceToken(parsed(listedServiceTokenSchema, item, what), {
              account: inventoryAccount,
              zoneId,
              now: at,
            }),
          );
      }
      const what = `API tokens of account ${input.accountId}`;
      const tokens = await list(
        walked,
        { accountId: input.accountId, kind: 'account-api-token', zoneId: null },
        what,
        (page, size) =>
          client.accounts.tokens.list({ account_id: input.accountId, page, per_page: size, include_expired: true }),
      );
      const knownTokens = await known();
      for (const item of tokens)
        found.push(
          classifyApiToken(parsed(listedApiTokenSchema, item, what), {
            accountId: input.accountId,
            kind: 'account',
            known: knownTokens,
          }),
        );
      await store.upsertCredentials(input.runId, found);
      return summarise(walked, found);
    },

    /** The user's API tokens, listed once per run, each recorded under the inventory accounts it reaches. */
    async discoverUserApiTokens(input: { runId: string }): Promise<DiscoveryListing> {
      const store = records();
      const client = deps.wardenClient('reads');
      const accountIds = deps.inventory.accounts.map((a) => a.id);
      const walked: Walked = { covered: [], skipped: [], calls: 0 };
      const what = 'user API tokens';
      // One list for the user; read in full, it covers the user tokens of every account.
      const tokens = await list(walked, { accountId: '', kind: 'user-api-token', zoneId: null }, what, (page, size) =>
        client.user.tokens.list({ page, per_page: size, include_expired: true }),
      );
      walked.covered = walked.covered.flatMap((scope) => accountIds.map((accountId) => ({ ...scope, accountId })));
      const knownTokens = await known();
      const found: DiscoveredCredential[] = [];
      for (const item of tokens) {
        const listed = parsed(listedApiTokenSchema, item, what);
        const managedIn = knownTokens.find((t) => t.kind === 'user' && t.id === listed.id)?.accountId ?? null;
        for (const accountId of userTokenAccounts(listed, accountIds, managedIn))
          found.push(classifyApiToken(listed, { accountId, kind: 'user', known: knownTokens }));
      }
      await store.upsertCredentials(input.runId, found);
      return summarise(walked, found);
    },
  };
}

/** Discovery's bookkeeping on the main queue: which accounts, and the end of a run. */
export function createDiscoveryLocalActivities(deps: Pick<DiscoveryDeps, 'inventory' | 'discovered'>) {
  return {
    async discoveryAccounts(): Promise<string[]> {
      return deps.inventory.accounts.map((a) => a.id);
    },

    /** Marks what this run did not list as gone and records the run; its counts come back. */
    async finishDiscovery(input: FinishDiscoveryInput): Promise<DiscoverySummary> {
      if (!deps.discovered) throw permanentFailure('DiscoveryNotWired', 'this worker has no discovery records');
      const run = await deps.discovered.finishRun(input);
      return {
        runId: run.runId,
        accounts: run.accounts,
        credentials: run.credentials,
        unmanaged: run.unmanaged,
        withoutExpiry: run.withoutExpiry,
        gone: run.gone,
        cloudflareCalls: run.cloudflareCalls,
        skipped: run.skipped,
      };
    },
  };
}
