import type { ApiTokenPolicyInput } from './api-tokens';
import type { AccessDecision } from './access';
import type { AccessRule, RequestIpCondition } from './types';

/** What the programmatic helpers of SimulatorState take. */

export interface CreateApiTokenOptions {
  /** 'user' for a user token, { accountId } for an account-owned token. */
  owner: 'user' | { accountId: string };
  name: string;
  /** Permission group names ("API Tokens Write"); turned into policies on the natural resources. */
  permissions?: string[];
  /** For user tokens given `permissions`: the account its account-level groups apply to (default: every account). */
  accountId?: string;
  /** Raw policies instead of (or besides) `permissions`. */
  policies?: ApiTokenPolicyInput[];
  expiresOn?: string | Date;
  notBefore?: string | Date;
  status?: 'active' | 'disabled' | 'expired';
  requestIp?: RequestIpCondition;
}

export interface CreateServiceTokenOptions {
  accountId?: string;
  zoneId?: string;
  name: string;
  duration?: string;
  expiresAt?: string | Date | null;
  enabled?: boolean;
}

export interface CreateAccessPolicyOptions {
  accountId: string;
  name: string;
  decision?: AccessDecision;
  include: AccessRule[];
  exclude?: AccessRule[];
  require?: AccessRule[];
  /** Set for an app-scoped policy; omit for a reusable one. */
  appId?: string;
  /** Reusable policies: apps to attach it to right away. */
  attachTo?: string[];
  precedence?: number;
}

export interface ScriptOptions {
  accountId: string;
  scriptName: string;
  dispatchNamespace?: string;
}
