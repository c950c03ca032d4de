import { ActivityFailure } from '@temporalio/workflow';
import type { CloudflareActivities } from '../activities';
import type { TokenSubject } from '../activities/token-subject';
import type { HealOutcome, TokenHealth } from '../health/evaluate';
import { decideHeal, healAnswered, healUpdateFailed, verifyHeal, type HealFacts } from '../health/heal-decisions';
import type { PermissionCatalogue } from '../health/permissions';

export const describeFailure = (error: unknown): string => {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof Error ? cause.message : 'unknown failure';
};

export interface HealInput extends HealFacts {
  subject: TokenSubject;
  context: { catalogue: PermissionCatalogue | null; now: number; baseURL: string };
  cloudflare: CloudflareActivities;
  cloudflareWrites: CloudflareActivities;
}

/** Heal one token and verify the result by reading it back. Returns the token as it now is. */
export async function healToken(input: HealInput): Promise<{ outcome: HealOutcome; token: TokenHealth }> {
  const { ref, token } = input;
  const decision = decideHeal(input);
  if (decision.action === 'done') return { outcome: decision.outcome, token };
  const { update } = decision;

  const where = { subject: input.subject, kind: ref.kind, accountId: ref.accountId, tokenId: update.tokenId };
  const applied = await input.cloudflareWrites
    .healApiToken({
      ...where,
      via: update.via,
      snapshot: update.snapshot,
      missing: update.missing,
      userResourceKey: update.userResourceKey,
    })
    .catch((error: unknown) => ({ failure: describeFailure(error) }));
  if ('failure' in applied) return { outcome: healUpdateFailed(decision.outcome, update, applied.failure), token };
  const answered = healAnswered(decision.outcome, update, ref.kind, applied);
  if (answered.refused) return { outcome: answered.outcome, token };

  // verify — read the token again: the added groups are granted and every earlier policy is intact
  const readBack = await input.cloudflare
    .readApiToken({ ...where, via: update.via })
    .catch((error: unknown) => ({ snapshot: null, problem: describeFailure(error) }));
  return verifyHeal(input, input.context, answered.outcome, update, readBack);
}
