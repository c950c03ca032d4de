import type { HealApplied } from '../activities/token-health';
import { evaluateToken, type HealOutcome, type TokenHealth } from './evaluate';
import { lostPolicies, planHeal } from './heal-plan';
import { mayManageTokens, permissionKey, tokensWriteGroupName, userResourceKeyIn } from './permissions';
import type { PermissionCatalogue } from './permissions';
import type { SelfAudit } from './self-audit';
import type { Credential, InventoryTokenRef, PermissionGroupInfo, TokenObservation, TokenSnapshot } from './types';

/**
 * Heal's decisions for one token, as pure functions: whether it may be healed at all, what
 * cannot be added and why, which credential edits it, and what each ending says. The workflow
 * only sends the update and reads the token back in between.
 */

/** What the check learnt that heal decides on. */
export interface HealFacts {
  ref: InventoryTokenRef;
  token: TokenHealth;
  observation: TokenObservation;
  catalogue: PermissionCatalogue | null;
  wardenObservation: TokenObservation;
  selfAudit: Pick<SelfAudit, 'isValid' | 'isActive'>;
  dryRun: boolean;
}

/** An update heal has decided to send. */
export interface HealUpdate {
  tokenId: string;
  via: Credential;
  snapshot: TokenSnapshot;
  missing: PermissionGroupInfo[];
  userResourceKey: string | null;
  /** The permissions the update adds, as the inventory names them. */
  missingNames: string;
}

export type HealDecision =
  { action: 'done'; outcome: HealOutcome } | { action: 'update'; outcome: HealOutcome; update: HealUpdate };

/** Requirement states heal cannot change, and why. */
export const NOT_HEALABLE: Readonly<Record<string, string>> = {
  denied: 'a deny policy blocks it; heal never edits or removes policies',
  unknown: 'no permission group of that name exists',
  unavailable: 'only user tokens can hold it',
};

export const notAddedText = (outcome: Pick<HealOutcome, 'notAdded'>): string =>
  outcome.notAdded.map((n) => `${n.permission} (${n.reason})`).join(', ');

const failed = (outcome: HealOutcome, message: string): HealOutcome => ({ ...outcome, success: false, message });

export function emptyOutcome(ref: InventoryTokenRef, token: TokenHealth, dryRun: boolean): HealOutcome {
  return {
    accountId: ref.accountId,
    name: ref.name,
    kind: ref.kind,
    tokenId: token.tokenId,
    success: false,
    dryRun,
    updated: false,
    via: null,
    permissionsAdded: [],
    permissionsAlreadyPresent: [],
    wouldAdd: [],
    notAdded: [],
    message: '',
  };
}

/**
 * The token edits itself when it may (the seed's way); otherwise token-warden's own token does,
 * if it is valid, active and may edit tokens of this kind on this account. Null: no one may.
 */
export function healEditor(
  ref: InventoryTokenRef,
  policies: TokenSnapshot['policies'],
  warden: TokenObservation,
  selfAudit: HealFacts['selfAudit'],
  catalogue: PermissionCatalogue,
): Credential | null {
  const subject = { kind: ref.kind, accountId: ref.accountId };
  if (mayManageTokens(policies, 'write', subject, ref.kind, catalogue)) return 'self';
  const wardenMayEdit =
    selfAudit.isValid &&
    selfAudit.isActive &&
    warden.snapshot !== null &&
    warden.kind !== null &&
    mayManageTokens(warden.snapshot.policies, 'write', subject, warden.kind, catalogue);
  return wardenMayEdit ? 'warden' : null;
}

/** Before any call: heal this token, only report on it (dry run, nothing to add), or refuse. */
export function decideHeal(facts: HealFacts): HealDecision {
  const { ref, token, observation, catalogue } = facts;
  const outcome = emptyOutcome(ref, token, facts.dryRun);
  const done = (result: HealOutcome): HealDecision => ({ action: 'done', outcome: result });
  if (token.state === 'unhealthy')
    return done(
      failed(
        outcome,
        `Cannot heal: the token is invalid or inactive (${token.problem ?? 'unknown reason'}); auto-heal cannot fix invalid, revoked or expired tokens`,
      ),
    );
  const snapshot = observation.snapshot;
  if (!snapshot || !catalogue || !token.tokenId)
    return done(failed(outcome, `Cannot heal: ${token.problem ?? 'its permissions could not be read'}`));

  const missing: PermissionGroupInfo[] = token.requirements.flatMap((r) => {
    const group = r.state === 'missing' && r.groupId ? catalogue.byGroupId(r.groupId) : undefined;
    return group ? [group] : [];
  });
  const wardenUserKey =
    facts.wardenObservation.kind === 'user'
      ? userResourceKeyIn(facts.wardenObservation.snapshot?.policies ?? [])
      : null;
  const userResourceKey = userResourceKeyIn(snapshot.policies) ?? wardenUserKey;
  const preview = planHeal(snapshot.policies, missing, { kind: ref.kind, accountId: ref.accountId, userResourceKey });
  const byGroupId = new Map(token.requirements.map((r) => [r.groupId, r.permission]));
  outcome.notAdded = [
    ...token.requirements
      .filter((r) => NOT_HEALABLE[r.state])
      .map((r) => ({ permission: r.permission, reason: NOT_HEALABLE[r.state] ?? r.state })),
    ...preview.blocked.map((b) => ({ permission: byGroupId.get(b.group.id) ?? b.group.name, reason: b.reason })),
  ];
  const cannotAdd = notAddedText(outcome);

  if (facts.dryRun) {
    const wouldAdd = preview.added.map(permissionKey);
    return done({
      ...outcome,
      success: outcome.notAdded.length === 0,
      wouldAdd,
      message: `Dry run: would add ${wouldAdd.length} missing permissions${outcome.notAdded.length ? `; cannot add ${cannotAdd}` : ''}`,
    });
  }
  if (preview.added.length === 0)
    return done(
      outcome.notAdded.length
        ? failed(outcome, `Could not add ${cannotAdd}`)
        : { ...outcome, success: true, message: 'Successfully added 0 missing permissions' },
    );

  const via = healEditor(ref, snapshot.policies, facts.wardenObservation, facts.selfAudit, catalogue);
  const missingNames = preview.added.map((g) => byGroupId.get(g.id) ?? g.name).join(', ');
  if (!via) {
    const group = tokensWriteGroupName(ref.kind);
    return done(
      failed(
        outcome,
        `Neither the token nor token-warden's own token holds ${group}, so no one may edit it. Grant ${group} (${group.replace(/ Write$/, ': Edit')} in the dashboard) to one of them, or add ${missingNames} in the Cloudflare dashboard`,
      ),
    );
  }
  return {
    action: 'update',
    outcome,
    update: { tokenId: token.tokenId, via, snapshot, missing, userResourceKey, missingNames },
  };
}

/** The update failed after every retry. */
export const healUpdateFailed = (outcome: HealOutcome, update: HealUpdate, failure: string): HealOutcome =>
  failed(
    outcome,
    `The update failed: ${failure}. Add ${update.missingNames} in the Cloudflare dashboard or run heal again`,
  );

/** Cloudflare answered the update: refused (final), or applied and to be verified. */
export function healAnswered(
  outcome: HealOutcome,
  update: HealUpdate,
  kind: InventoryTokenRef['kind'],
  applied: HealApplied,
): { outcome: HealOutcome; refused: boolean } {
  const answered = {
    ...outcome,
    via: update.via,
    permissionsAlreadyPresent: applied.alreadyPresent.map(permissionKey),
  };
  if (applied.refusal)
    return {
      refused: true,
      outcome: failed(
        answered,
        `Cloudflare refused the update (${applied.refusal.message}). Grant ${tokensWriteGroupName(kind)} to ${update.via === 'self' ? 'the token' : "token-warden's own token"}, or add ${update.missingNames} in the Cloudflare dashboard`,
      ),
    };
  return {
    refused: false,
    outcome: { ...answered, updated: applied.updated, permissionsAdded: applied.added.map(permissionKey) },
  };
}

/**
 * Verify by the read-back: the added groups are granted and every earlier policy is intact.
 * Returns the outcome and the token as it now is (as checked when the read-back failed).
 */
export function verifyHeal(
  facts: Pick<HealFacts, 'ref' | 'token' | 'observation'>,
  context: Parameters<typeof evaluateToken>[2],
  outcome: HealOutcome,
  update: HealUpdate,
  readBack: { snapshot: TokenSnapshot | null; problem: string | null },
): { outcome: HealOutcome; token: TokenHealth } {
  if (!readBack.snapshot)
    return {
      outcome: failed(
        outcome,
        `Updated, but the read-back failed (${readBack.problem ?? 'unknown'}); run the check again to confirm`,
      ),
      token: facts.token,
    };
  const after = evaluateToken(
    facts.ref,
    { ...facts.observation, snapshot: readBack.snapshot, readVia: update.via },
    context,
  );
  if (lostPolicies(update.snapshot.policies, readBack.snapshot.policies).length > 0)
    return {
      outcome: failed(
        outcome,
        'Updated, but the read-back lost a policy the token had; check it in the Cloudflare dashboard',
      ),
      token: after,
    };
  const stillMissing = after.requirements.filter((r) => r.state === 'missing').map((r) => r.permission);
  if (stillMissing.length)
    return {
      outcome: failed(outcome, `Updated, but ${stillMissing.join(', ')} still missing on read-back`),
      token: after,
    };
  const added = outcome.permissionsAdded.length;
  const found = outcome.permissionsAlreadyPresent.length;
  // A retry after a lost answer finds the groups already there: the earlier attempt added them.
  const summary =
    found > 0
      ? `Successfully added ${added} missing permissions (${found} found already added by an earlier attempt)`
      : `Successfully added ${added} missing permissions`;
  return {
    outcome: {
      ...outcome,
      success: outcome.notAdded.length === 0,
      message: outcome.notAdded.length
        ? `Added ${added} missing permissions; could not add ${notAddedText(outcome)}`
        : summary,
    },
    token: after,
  };
}
