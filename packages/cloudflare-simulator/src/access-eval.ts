import { ruleTokenId, type AppPolicyEntry } from './state/access';
import type { AccessRule } from './state/types';

/**
 * How Access decides a request that authenticated with a valid service token: policies
 * are tried in precedence order; a policy matches when any include rule, every require
 * rule and no exclude rule matches; the first match decides. Only service-token rules
 * ({service_token: {token_id}}, {any_valid_service_token: {}}) can match a service token —
 * identity rules (email, everyone, groups, …) need a user and never do.
 */
export interface AccessOutcome {
  allowed: boolean;
  policyId?: string;
}

export function ruleMatchesServiceToken(rule: AccessRule, tokenId: string): boolean {
  if ('any_valid_service_token' in rule) return true;
  return ruleTokenId(rule) === tokenId;
}

export function decideForServiceToken(policies: readonly AppPolicyEntry[], tokenId: string): AccessOutcome {
  for (const { policy } of policies) {
    const matches = (rule: AccessRule): boolean => ruleMatchesServiceToken(rule, tokenId);
    const hit = policy.include.some(matches) && policy.require.every(matches) && !policy.exclude.some(matches);
    if (!hit) continue;
    return { allowed: policy.decision !== 'deny', policyId: policy.id };
  }
  return { allowed: false };
}
