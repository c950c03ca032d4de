/**
 * The Cloudflare simulator: a loopback HTTP server implementing the token-lifecycle
 * contract (../shared/cloudflare-openapi/token-lifecycle.json) and the Access policy
 * endpoints, with an Access-protected probe app, fault injection and a rate limit.
 * See README.md beside this file.
 */
export { startSimulator } from './server';
export type {
  RunningSimulator,
  SimulatorCalls,
  SimulatorFaults,
  SimulatorRateLimit,
  StartSimulatorOptions,
} from './server';
export { buildSimulatorApp, API_PREFIX } from './app';
export type { SimulatorAppDeps } from './app';
export { SimulatorState } from './state/state';
export type {
  CreateAccessPolicyOptions,
  CreateApiTokenOptions,
  CreateServiceTokenOptions,
} from './state/state-options';
export type { DemoApiToken, DemoSeed, DemoServiceToken } from './state/types';
export type { FaultRuleInput, RateLimitPatch, RateLimitTarget } from './faults-schema';
export type { RateLimitConfig, RateLimitKeySnapshot } from './rate-limit';
export type { RateLimitSpendResult } from './rate-limit-control';
export type { ApiRequestEvent, ApiRequestListener, CountedApiRequest } from './calls';
export { CLOUDFLARE_RATE_LIMIT, rateLimitKeyOfToken } from './rate-limit';
export {
  PERMISSION_GROUPS,
  SEED_004_ACCOUNT_TOKEN_PERMISSIONS,
  SEED_004_USER_TOKEN_PERMISSIONS,
  groupNameForLabel,
  permissionGroupById,
  permissionGroupByName,
} from './permission-groups';
export type { PermissionGroup } from './permission-groups';
export { DEMO_ACCOUNT_TOKEN_MISSING, WARDEN_ACCOUNT_PERMISSIONS, WARDEN_USER_PERMISSIONS, seedDemo } from './seed-demo';
export { DEMO_UNACCOUNTED } from './seed-demo-unaccounted';
export { SimClock } from './clock';
export type { OperationMeta, RouteAuth } from './operations';
