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
} from '../discovery/credential-schemas';
import { listEveryPage, type ListedPage } from '../cloudflare/pages';
import { toActivityFailure } from './cloudflare-errors';
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
  accountIds: string[];
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
  cloudflareCalls: number;
}

function summarise(accountIds: string[], credentials: DiscoveredCredential[], calls: number): DiscoveryListing {
  return {
    accountIds,
    credentials: credentials.length,
    unmanaged: credentials.filter((c) => !c.managed).length,
    withoutExpiry: credentials.filter((c) => c.expiresAt === null).length,
    cloudflareCalls: calls,
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
  async function list<T>(what: string, fetchPage: (page: number, size: number) => Promise<ListedPage<T>>) {
    try {
      return await listEveryPage(fetchPage);
    } catch (error) {
      throw toActivityFailure(error, `list ${what}`);
    }
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
      let calls = 0;
      const scopes = [
        { zoneId: null, scope: { account_id: input.accountId } },
        ...[...new Set(inventoryAccount.serviceTokens.flatMap((t) => (t.zoneId ? [t.zoneId] : [])))].map((zoneId) => ({
          zoneId,
          scope: { zone_id: zoneId },
        })),
      ];
      for (const { zoneId, scope } of scopes) {
        const listed = await list(
          `service tokens of ${zoneId ? `zone ${zoneId}` : `account ${input.accountId}`}`,
          (page, size) => client.zeroTrust.access.serviceTokens.list({ ...scope, page, per_page: size }),
        );
        calls += listed.requests;
        for (const item of listed.items)
          found.push(
            classifyServiceToken(listedServiceTokenSchema.parse(item), { account: inventoryAccount, zoneId, now: at }),
          );
      }
      const tokens = await list(`API tokens of account ${input.accountId}`, (page, size) =>
        client.accounts.tokens.list({ account_id: input.accountId, page, per_page: size, include_expired: true }),
      );
      calls += tokens.requests;
      const knownTokens = await known();
      for (const item of tokens.items)
        found.push(
          classifyApiToken(listedApiTokenSchema.parse(item), {
            accountId: input.accountId,
            kind: 'account',
            known: knownTokens,
          }),
        );
      await store.upsertCredentials(input.runId, found);
      return summarise([input.accountId], found, calls);
    },

    /** The user's API tokens, listed once per run, each recorded under the inventory accounts it reaches. */
    async discoverUserApiTokens(input: { runId: string }): Promise<DiscoveryListing> {
      const store = records();
      const client = deps.wardenClient('reads');
      const tokens = await list('user API tokens', (page, size) =>
        client.user.tokens.list({ page, per_page: size, include_expired: true }),
      );
      const accountIds = deps.inventory.accounts.map((a) => a.id);
      const knownTokens = await known();
      const found: DiscoveredCredential[] = [];
      for (const item of tokens.items) {
        const listed = listedApiTokenSchema.parse(item);
        const managedIn = knownTokens.find((t) => t.kind === 'user' && t.id === listed.id)?.accountId ?? null;
        for (const accountId of userTokenAccounts(listed, accountIds, managedIn))
          found.push(classifyApiToken(listed, { accountId, kind: 'user', known: knownTokens }));
      }
      await store.upsertCredentials(input.runId, found);
      return summarise(accountIds, found, tokens.requests);
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
      };
    },
  };
}
