import {
  evaluateRequirements,
  extraPermissions,
  permissionKey,
  type PermissionCatalogue,
  type RequirementState,
} from './permissions';
import type { Credential, InventoryTokenRef, TokenKind, TokenObservation } from './types';

/** The seed's three states. */
export type HealthState = 'healthy' | 'degraded' | 'unhealthy';

export const DAY_MS = 86_400_000;
/** Expiry closer than this is a warning (a recommendation and a notification). */
export const EXPIRY_WARNING_DAYS = 30;

export interface RequirementReport {
  permission: string;
  state: RequirementState;
  groupId: string | null;
  groupName: string | null;
  /** The seed's key, e.g. `com.cloudflare.api.account.workers.script:edit`. */
  key: string | null;
}

/** One token's health, as the check (or the verify after heal) found it. */
export interface TokenHealth {
  accountId: string;
  name: string;
  kind: TokenKind;
  tokenId: string | null;
  /** Cloudflare accepts the value. */
  isValid: boolean;
  /** Status `active`, inside its validity window. */
  isActive: boolean;
  status: string | null;
  expiresOn: string | null;
  daysUntilExpiry: number | null;
  permissionsReadable: boolean;
  requirements: RequirementReport[];
  /** Required permissions (as the inventory names them) the token does not hold. */
  missingPermissions: string[];
  hasAllPermissions: boolean;
  /** Allowed groups beyond the required list: reported, never removed. */
  extraPermissions: string[];
  /** Why the token is invalid, inactive or unreadable. */
  problem: string | null;
  readVia: Credential | null;
  state: HealthState;
  verificationUrl: string;
  /**
   * A token token-warden rotates: when the expiry sweep renews it (its expiry less its
   * `renewBefore`; null when it never expires). Absent for tokens it only checks.
   */
  nextRotationAt?: string | null;
}

export function verificationUrl(baseURL: string, kind: TokenKind, accountId: string): string {
  const base = baseURL.replace(/\/+$/, '');
  return kind === 'account' ? `${base}/accounts/${accountId}/tokens/verify` : `${base}/user/tokens/verify`;
}

export function daysUntil(iso: string | null, now: number): number | null {
  if (!iso) return null;
  const at = Date.parse(iso);
  return Number.isNaN(at) ? null : Math.floor((at - now) / DAY_MS);
}

/** Validity and status of a token, from what Cloudflare said; shared by inventory tokens and token-warden's own. */
export function assessValidity(
  observation: TokenObservation,
  now: number,
): { isValid: boolean; isActive: boolean; status: string | null; expiresOn: string | null; problem: string | null } {
  const status = observation.snapshot?.status ?? observation.verified?.status ?? null;
  const expiresOn = observation.snapshot?.expiresOn ?? observation.verified?.expiresOn ?? null;
  const notBefore = observation.snapshot?.notBefore ?? observation.verified?.notBefore ?? null;
  if (observation.secret === 'missing')
    return {
      isValid: false,
      isActive: false,
      status,
      expiresOn,
      problem: `no token value in ${observation.secretSource}`,
    };
  if (observation.accepted === null) {
    return {
      isValid: false,
      isActive: false,
      status,
      expiresOn,
      problem: `could not be checked: ${observation.refusal?.message ?? 'Cloudflare did not answer'}`,
    };
  }
  const expired = expiresOn !== null && Date.parse(expiresOn) <= now;
  const notYet = notBefore !== null && Date.parse(notBefore) > now;
  if (!observation.accepted) {
    const why =
      status && status !== 'active'
        ? `status ${status}`
        : expired
          ? `expired on ${expiresOn}`
          : (observation.refusal?.message ?? 'rejected');
    return { isValid: false, isActive: false, status, expiresOn, problem: `Cloudflare rejects it: ${why}` };
  }
  const isActive = status === 'active' && !expired && !notYet;
  const problem = isActive
    ? null
    : expired
      ? `expired on ${expiresOn}`
      : notYet
        ? `not valid before ${notBefore}`
        : `status is ${status ?? 'unknown'}`;
  return { isValid: true, isActive, status, expiresOn, problem };
}

/** A token's health from one observation. Without the listing or a read of its policies, no permission counts as held. */
export function evaluateToken(
  ref: InventoryTokenRef,
  observation: TokenObservation,
  context: { catalogue: PermissionCatalogue | null; now: number; baseURL: string },
): TokenHealth {
  const validity = assessValidity(observation, context.now);
  const snapshot = observation.snapshot;
  const catalogue = context.catalogue;
  const readable = snapshot !== null && catalogue !== null;
  const requirements: RequirementReport[] = readable
    ? evaluateRequirements(ref.requiredPermissions, snapshot.policies, {
        kind: ref.kind,
        accountId: ref.accountId,
        catalogue,
      }).map((r) => ({
        permission: r.permission,
        state: r.state,
        groupId: r.group?.id ?? null,
        groupName: r.group?.name ?? null,
        key: r.group ? permissionKey(r.group) : null,
      }))
    : ref.requiredPermissions.map((permission) => ({
        permission,
        state: 'unknown',
        groupId: null,
        groupName: null,
        key: null,
      }));
  const missingPermissions = requirements.filter((r) => r.state !== 'present').map((r) => r.permission);
  const requiredIds = new Set(requirements.map((r) => r.groupId).filter((id): id is string => id !== null));
  const hasAllPermissions = readable && missingPermissions.length === 0;
  const problem =
    validity.problem ??
    (snapshot === null
      ? `its permissions could not be read${observation.readProblem ? `: ${observation.readProblem}` : ''}`
      : null);
  const state: HealthState =
    !validity.isValid || !validity.isActive ? 'unhealthy' : hasAllPermissions ? 'healthy' : 'degraded';
  return {
    accountId: ref.accountId,
    name: ref.name,
    kind: ref.kind,
    tokenId: snapshot?.id ?? observation.tokenId ?? ref.configuredId,
    isValid: validity.isValid,
    isActive: validity.isActive,
    status: validity.status,
    expiresOn: validity.expiresOn,
    daysUntilExpiry: daysUntil(validity.expiresOn, context.now),
    permissionsReadable: readable,
    requirements,
    missingPermissions,
    hasAllPermissions,
    extraPermissions: readable ? extraPermissions(snapshot.policies, requiredIds, catalogue) : [],
    problem,
    readVia: observation.readVia,
    state,
    verificationUrl: verificationUrl(context.baseURL, ref.kind, ref.accountId),
    ...(ref.renewBeforeMs === undefined
      ? {}
      : {
          nextRotationAt: nextRotationAt(validity.expiresOn, ref.renewBeforeMs, {
            every: ref.every?.ms,
            valueSince: ref.every && snapshot ? snapshot[ref.every.since] : null,
          }),
        }),
  };
}

/**
 * When the sweep rotates a token: `renewBeforeMs` ahead of its expiry, or `every` after its value
 * was made, whichever comes first.
 */
export function nextRotationAt(
  expiresOn: string | null,
  renewBeforeMs: number,
  cadence: { every?: number; valueSince?: string | null } = {},
): string | null {
  const renewal = expiresOn ? Date.parse(expiresOn) - renewBeforeMs : NaN;
  const due = cadence.every && cadence.valueSince ? Date.parse(cadence.valueSince) + cadence.every : NaN;
  const candidates = [renewal, due].filter((at) => !Number.isNaN(at));
  return candidates.length ? new Date(Math.min(...candidates)).toISOString() : null;
}

/** Unhealthy if any token is invalid or inactive; degraded if any misses permissions; else healthy. */
export function overallHealth(tokens: readonly Pick<TokenHealth, 'state'>[]): HealthState {
  if (tokens.some((t) => t.state === 'unhealthy')) return 'unhealthy';
  if (tokens.some((t) => t.state === 'degraded')) return 'degraded';
  return 'healthy';
}

/** What heal did (or, in a dry run, would do) for one token. */
export interface HealOutcome {
  accountId: string;
  name: string;
  kind: TokenKind;
  tokenId: string | null;
  success: boolean;
  dryRun: boolean;
  /** Whether an update was sent to Cloudflare. */
  updated: boolean;
  via: Credential | null;
  /** Seed keys of the groups added. */
  permissionsAdded: string[];
  /** Seed keys of groups heal meant to add but found already granted. */
  permissionsAlreadyPresent: string[];
  /** Dry run: seed keys heal would add. */
  wouldAdd: string[];
  /** Required permissions heal cannot add, with the reason. */
  notAdded: Array<{ permission: string; reason: string }>;
  message: string;
}

/**
 * Which inventory token answers for the seed's `account_token` and `user_token`: the first
 * account-owned and the first user token. Every other token is "additional".
 */
export function seedRoles<T extends { kind: TokenKind }>(
  tokens: readonly T[],
): { account: number | null; user: number | null; additional: number[] } {
  const account = tokens.findIndex((t) => t.kind === 'account');
  const user = tokens.findIndex((t) => t.kind === 'user');
  const additional = tokens.map((_, i) => i).filter((i) => i !== account && i !== user);
  return { account: account < 0 ? null : account, user: user < 0 ? null : user, additional };
}

/** "Account token", "User token" (the seed's), or the inventory name for any other. */
export function tokenLabel(
  tokens: readonly { kind: TokenKind; name: string; accountId: string }[],
  index: number,
): string {
  const roles = seedRoles(tokens);
  if (index === roles.account) return 'Account token';
  if (index === roles.user) return 'User token';
  const token = tokens[index];
  return token ? `${token.kind === 'account' ? 'Account' : 'User'} token "${token.name}"` : 'Token';
}
