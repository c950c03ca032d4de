import type Cloudflare from 'cloudflare';
import { DEFAULT_CLOUDFLARE_BASE_URL } from '../cloudflare/client';
import { durationMs, type Inventory } from '../config';
import { type SecretSource } from '../secret-source';
import type { HistoryRepository } from '../db/history-repository';
import type { TokenHealthReport } from '../health/report';
import { wardenNeeds, type WardenNeed } from '../health/self-audit';
import type { InventoryTokenRef, TokenIdentity } from '../health/types';
import { historySummary } from '../health/history-wire';
import { configuredChannels, type NotifyChannel } from './notify';
import { writeHistory, type HistoryWriteResult } from './history-writes';
import { fingerprintToken } from './token-subject';

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
            ...(token.rotate ? { renewBeforeMs: durationMs(token.rotate.renewBefore) } : {}),
            ...(token.rotate?.every
              ? {
                  every: {
                    ms: durationMs(token.rotate.every),
                    since: token.rotate.strategy === 'roll' ? ('modifiedOn' as const) : ('issuedOn' as const),
                  },
                }
              : {}),
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
