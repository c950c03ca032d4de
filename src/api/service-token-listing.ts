import type { z } from 'zod';
import type { Inventory } from '../config';
import type { RotationRepository } from '../db/rotation-repository';
import { managedServiceTokens, rotationWorkflowId } from '../inventory';
import type { ReadServiceTokenExpiry } from '../service-token-expiry';
import { targetLabel } from '../stores/target-label';
import type { inventoryResponse } from './service-token-schemas';

export interface ServiceTokenListingDeps {
  inventory: Pick<Inventory, 'accounts'>;
  rotations: Pick<RotationRepository, 'lastRotation'>;
  /** Managed tokens' ids and expiry as Cloudflare has them; absent, they are unknown. */
  serviceTokenExpiry?: ReadServiceTokenExpiry;
}

type ListedServiceToken = z.infer<typeof inventoryResponse>['data']['service_tokens'][number];

const DAY_MS = 86_400_000;

function latest(dates: Array<Date | null | undefined>): Date | undefined {
  return dates.reduce<Date | undefined>((max, d) => (d && (!max || d > max) ? d : max), undefined);
}

/** `GET /service-tokens`: every managed token with its expiry as Cloudflare has it and its last rotation. */
export async function listServiceTokens(deps: ServiceTokenListingDeps): Promise<ListedServiceToken[]> {
  const entries = managedServiceTokens(deps.inventory);
  const lastRotations = await Promise.all(
    entries.map(({ account, token }) => deps.rotations.lastRotation(account.id, token.name)),
  );
  const changedSince = latest(lastRotations.map((last) => last?.finishedAt));
  const expiry = deps.serviceTokenExpiry ? await deps.serviceTokenExpiry({ changedSince }).catch(() => []) : [];
  const now = Date.now();
  return entries.map(({ account, token }, i) => {
    const live = expiry.find((t) => t.accountId === account.id && t.tokenName === token.name);
    const last = lastRotations[i];
    const expiresAt = live?.expiresAt ?? null;
    return {
      account_id: account.id,
      name: token.name,
      scope: token.zoneId ? ('zone' as const) : ('account' as const),
      strategy: token.strategy,
      token_id: live?.tokenId ?? null,
      expires_at: expiresAt,
      days_to_expiry: expiresAt ? Math.floor((Date.parse(expiresAt) - now) / DAY_MS) : null,
      renew_before: token.renewBefore,
      targets: token.targets.map((target) => targetLabel(target, account.id)),
      last_rotation: last
        ? {
            run_id: last.runId,
            status: last.status,
            started_at: last.startedAt.toISOString(),
            finished_at: last.finishedAt?.toISOString() ?? null,
          }
        : null,
      workflow_id: rotationWorkflowId(account.id, token.name),
    };
  });
}
