import { z } from 'zod';
import { durationMs, type Inventory } from '../config';
import type { HistoryRepository } from '../db/history-repository';
import type { RotationRepository } from '../db/rotation-repository';
import { nextRotationAt } from '../health/evaluate';
import { healthStateSchema, tokenTypeSchema } from '../health/wire';
import { apiTokenRotationWorkflowId, managedApiTokens } from '../inventory';
import { targetLabel } from '../stores/target-label';
import type { ListedApiToken } from './api-token-schemas';

export interface ApiTokenListingDeps {
  inventory: Pick<Inventory, 'accounts'>;
  rotations: Pick<RotationRepository, 'lastRotation'>;
  history: Pick<HistoryRepository, 'listApiTokenChecks'>;
}

/**
 * What the listing takes from a recorded health report (see recordTokenHealth): each token's
 * verdict, nothing of its value. A row an older version wrote without these fields is no
 * health, not a 500.
 */
const recordedHealthSchema = z.object({
  report: z.object({
    runId: z.string(),
    timestamp: z.string(),
    tokens: z.array(
      z.object({
        accountId: z.string(),
        name: z.string(),
        kind: tokenTypeSchema,
        state: healthStateSchema,
        isValid: z.boolean(),
        expiresOn: z.string().nullable(),
        missingPermissions: z.array(z.string()),
        nextRotationAt: z.string().nullable().optional(),
      }),
    ),
  }),
});
type RecordedHealth = z.infer<typeof recordedHealthSchema>['report'];

async function newestHealth(history: ApiTokenListingDeps['history']): Promise<RecordedHealth | null> {
  const [row] = await history.listApiTokenChecks(1, 'health');
  const parsed = recordedHealthSchema.safeParse(row?.results);
  return parsed.success ? parsed.data.report : null;
}

/**
 * `GET /api-tokens`: every inventory API token with its rotation settings, the newest recorded
 * health check's verdict and its last rotation. Reads Postgres only: listing never starts a
 * check and never calls Cloudflare.
 */
export async function listApiTokens(
  deps: ApiTokenListingDeps,
  filter: { accountId?: string } = {},
): Promise<ListedApiToken[]> {
  const entries = managedApiTokens(deps.inventory).filter(
    (e) => !filter.accountId || e.account.id === filter.accountId,
  );
  const [health, lastRotations] = await Promise.all([
    newestHealth(deps.history),
    Promise.all(entries.map(({ account, token }) => deps.rotations.lastRotation(account.id, token.name, 'api-token'))),
  ]);
  return entries.map((entry, i) => {
    const { account, token } = entry;
    const checked = health?.tokens.find(
      (t) => t.accountId === account.id && t.name === token.name && t.kind === token.kind,
    );
    const last = lastRotations[i];
    const expiresOn = checked?.expiresOn ?? null;
    return {
      name: token.name,
      account_id: account.id,
      kind: token.kind,
      self: token.self,
      rotate: token.rotate
        ? {
            strategy: token.rotate.strategy,
            renew_before: token.rotate.renewBefore,
            every: token.rotate.every ?? null,
            propagation_wait: token.rotate.propagationWait,
            targets: token.rotate.targets.map((target) => targetLabel(target, account.id)),
          }
        : null,
      health:
        health && checked
          ? {
              checked_at: health.timestamp,
              run_id: health.runId,
              state: checked.state,
              is_valid: checked.isValid,
              expires_on: expiresOn,
              missing_permissions_count: checked.missingPermissions.length,
            }
          : null,
      // When the sweep rotates it: renewBefore ahead of expiry, or `every` after the value was made
      // (the last completed rotation; before any, the date the health check worked out).
      next_rotation_at: token.rotate
        ? last?.status === 'completed' || !checked?.nextRotationAt
          ? nextRotationAt(expiresOn, durationMs(token.rotate.renewBefore), {
              every: token.rotate.every ? durationMs(token.rotate.every) : undefined,
              valueSince: last?.status === 'completed' ? last.startedAt.toISOString() : null,
            })
          : (checked.nextRotationAt ?? null)
        : null,
      last_rotation: last
        ? {
            run_id: last.runId,
            status: last.status,
            mode: last.mode,
            started_at: last.startedAt.toISOString(),
            finished_at: last.finishedAt?.toISOString() ?? null,
          }
        : null,
      workflow_id: apiTokenRotationWorkflowId(entry),
    };
  });
}
