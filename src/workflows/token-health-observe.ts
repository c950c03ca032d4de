import { patched } from '@temporalio/workflow';
import type { CloudflareActivities } from '../activities';
import type { PermissionGroupListing } from '../activities/token-health';
import type { TokenHealthRunPlan } from '../activities/token-health-local';
import type { TokenSubject } from '../activities/token-subject';
import { observationSources } from '../health/shared-values';
import type { InventoryTokenRef, TokenIdentity, TokenObservation } from '../health/types';
import { describeFailure } from './heal-token';

/** An observation for a token whose check failed after every retry: it counts as not checked. */
const unreachable = (error: unknown, kind: TokenObservation['kind']): TokenObservation => ({
  fingerprint: null,
  secret: 'present',
  secretSource: '',
  tokenId: null,
  accepted: null,
  verified: null,
  refusal: { httpStatus: null, message: describeFailure(error) },
  snapshot: null,
  readVia: null,
  readProblem: null,
  kind,
});

/** Runs that started after this patch observe each distinct token value once (see observationSources). */
const OBSERVE_EACH_VALUE_ONCE = 'token-health-observe-each-value-once';

export interface CheckStep {
  plan: TokenHealthRunPlan;
  cloudflare: CloudflareActivities;
  cachedFor: (subject: string) => TokenIdentity | null;
  subjectOf: (ref: InventoryTokenRef) => TokenSubject;
  keyOf: (ref: InventoryTokenRef) => string;
}

type Checked = [PermissionGroupListing, TokenObservation[], TokenObservation];

const observeToken = (
  { cloudflare, cachedFor, subjectOf, keyOf }: CheckStep,
  ref: InventoryTokenRef,
): Promise<TokenObservation> =>
  cloudflare
    .observeApiToken({
      subject: subjectOf(ref),
      kind: ref.kind,
      accountId: ref.accountId,
      configuredId: ref.configuredId,
      cached: cachedFor(keyOf(ref)),
    })
    .catch((error: unknown) => unreachable(error, ref.kind));

const observeWarden = ({ cloudflare, cachedFor, plan }: CheckStep): Promise<TokenObservation> =>
  cloudflare
    .observeApiToken({
      subject: { source: 'warden' },
      kind: null,
      accountId: plan.firstAccountId,
      configuredId: null,
      cached: cachedFor('token-warden'),
    })
    .catch((error: unknown) => unreachable(error, null));

/** The check as runs recorded before OBSERVE_EACH_VALUE_ONCE made it: every entry and token-warden's own token read apart. */
async function observeEveryEntry(step: CheckStep): Promise<Checked> {
  return Promise.all([
    step.cloudflare
      .listPermissionGroups({ accountId: step.plan.firstAccountId })
      .catch((error: unknown) => ({ groups: null, problem: describeFailure(error) })),
    Promise.all(step.plan.tokens.map((ref) => observeToken(step, ref))),
    observeWarden(step),
  ]);
}

/**
 * The check with one read per distinct value: an entry holding the same value as an earlier
 * one, and token-warden's own token when it is one of the inventory's, use that token's
 * observation, so the self-audit costs no request of its own. The listing goes straight to
 * the account's when the cache knows token-warden's token is account-owned.
 */
async function observeEachValueOnce(step: CheckStep): Promise<Checked> {
  const { plan } = step;
  const sources = observationSources(plan.tokens, plan.fingerprints);
  const [listing, own, apart] = await Promise.all([
    step.cloudflare
      .listPermissionGroups({
        accountId: plan.firstAccountId,
        wardenKind: step.cachedFor('token-warden')?.kind ?? null,
      })
      .catch((error: unknown) => ({ groups: null, problem: describeFailure(error) })),
    Promise.all(plan.tokens.map((ref, i) => (sources.tokens[i] === i ? observeToken(step, ref) : null))),
    sources.warden === null ? observeWarden(step) : null,
  ]);
  const observations = plan.tokens.map((_, i) => {
    const observation = own[sources.tokens[i] ?? i];
    if (!observation) throw new Error('observation out of step with the inventory');
    return observation;
  });
  if (apart) return [listing, observations, apart];
  const shared = sources.warden === null ? undefined : observations[sources.warden];
  // The value may have changed between the plan and the read (a deploy rotating secrets): then
  // the observation is not of token-warden's token, which is read on its own after all.
  const same = shared && (shared.fingerprint === null || shared.fingerprint === plan.fingerprints?.warden);
  return [listing, observations, same ? shared : await observeWarden(step)];
}

/** The check: one permission-group listing for the whole run; every token (and token-warden's own) at once. */
export const observeTokens = (step: CheckStep): Promise<Checked> =>
  patched(OBSERVE_EACH_VALUE_ONCE) ? observeEachValueOnce(step) : observeEveryEntry(step);
