import { assessValidity, daysUntil } from './evaluate';
import { grants, type GrantTarget, type PermissionCatalogue } from './permissions';
import type { TokenKind, TokenObservation } from './types';

/** A permission token-warden's own token needs, and what for. */
export interface WardenNeed {
  permission: string;
  purpose: 'rotation' | 'heal';
  /** The account it is needed on; null for user-level permissions. */
  accountId: string | null;
}

/** The part of the inventory that decides what token-warden's own token needs. */
export interface InventoryShape {
  accounts: ReadonlyArray<{
    id: string;
    apiTokens: ReadonlyArray<{ kind: TokenKind }>;
    serviceTokens: ReadonlyArray<{ strategy: string }>;
  }>;
}

/**
 * Rotation needs Access: Service Tokens Write on every account with service tokens (and
 * Access: Apps and Policies Write where a token is rotated blue/green, which edits policies);
 * heal needs write access to API tokens of each kind it may have to edit on their behalf.
 */
export function wardenNeeds(inventory: InventoryShape): WardenNeed[] {
  const needs: WardenNeed[] = [];
  for (const account of inventory.accounts) {
    if (account.serviceTokens.length > 0)
      needs.push({ permission: 'Access: Service Tokens Write', purpose: 'rotation', accountId: account.id });
    if (account.serviceTokens.some((t) => t.strategy === 'replace'))
      needs.push({ permission: 'Access: Apps and Policies Write', purpose: 'rotation', accountId: account.id });
    if (account.apiTokens.some((t) => t.kind === 'account'))
      needs.push({ permission: 'Account API Tokens Write', purpose: 'heal', accountId: account.id });
  }
  if (inventory.accounts.some((a) => a.apiTokens.some((t) => t.kind === 'user')))
    needs.push({ permission: 'API Tokens Write', purpose: 'heal', accountId: null });
  return needs;
}

export interface SelfAudit {
  tokenId: string | null;
  kind: TokenKind | null;
  isValid: boolean;
  isActive: boolean;
  status: string | null;
  expiresOn: string | null;
  daysUntilExpiry: number | null;
  permissionsReadable: boolean;
  needs: Array<WardenNeed & { held: boolean | null }>;
  /** "Access: Service Tokens Write (rotation, account …)" for every need not held. */
  missing: string[];
  problem: string | null;
}

const describeNeed = (need: WardenNeed): string =>
  `${need.permission} (${need.purpose}${need.accountId ? `, account ${need.accountId}` : ''})`;

export function evaluateSelfAudit(
  observation: TokenObservation,
  needs: readonly WardenNeed[],
  context: { catalogue: PermissionCatalogue | null; now: number },
): SelfAudit {
  const validity = assessValidity(observation, context.now);
  const snapshot = observation.snapshot;
  const catalogue = context.catalogue;
  const kind = observation.kind;
  const held = needs.map((need) => {
    if (!snapshot || !catalogue) return { ...need, held: null };
    if (need.accountId === null && kind === 'account') return { ...need, held: false };
    const target: GrantTarget =
      need.accountId === null ? { kind: 'user' } : { kind: 'account', accountId: need.accountId };
    return { ...need, held: grants(snapshot.policies, catalogue.idsOf([need.permission]), target) };
  });
  return {
    tokenId: snapshot?.id ?? observation.tokenId,
    kind,
    isValid: validity.isValid,
    isActive: validity.isActive,
    status: validity.status,
    expiresOn: validity.expiresOn,
    daysUntilExpiry: daysUntil(validity.expiresOn, context.now),
    permissionsReadable: snapshot !== null && catalogue !== null,
    needs: held,
    missing: held.filter((n) => n.held === false).map(describeNeed),
    problem:
      validity.problem ??
      (snapshot
        ? null
        : `its permissions could not be read${observation.readProblem ? `: ${observation.readProblem}` : ''}`),
  };
}
