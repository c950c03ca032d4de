import type { FaultRuleInput, RunningSimulator } from '@token-warden/cloudflare-simulator';

const API = '/accounts/:account/**';

/** Mutations whose answer a chaos run loses after Cloudflare has applied them. */
export const APPLY_THEN_DROP = {
  'drop: rotate (issue)': 'access-service-tokens-rotate-a-service-token',
  'drop: create (issue)': 'access-service-tokens-create-a-service-token',
  'drop: update (retire)': 'access-service-tokens-update-a-service-token',
  'drop: delete (retire)': 'access-service-tokens-delete-a-service-token',
  'drop: reusable policy update': 'access-policies-update-an-access-reusable-policy',
  'drop: app policy update': 'access-policies-update-an-access-policy',
  'drop: Workers secret put': 'worker-put-script-secret',
  'drop: Secrets Store edit': 'secrets-store-patch-by-id',
  'drop: API token create (issue)': 'account-api-tokens-create-token',
  'drop: user token create (issue)': 'user-api-tokens-create-token',
  'drop: API token delete (retire)': 'account-api-tokens-delete-token',
  'drop: user token delete (retire)': 'user-api-tokens-delete-token',
  'drop: API token roll (emergency)': 'account-api-tokens-roll-token',
  'drop: user token roll (emergency)': 'user-api-tokens-roll-token',
} as const;

/**
 * The simulator's fault rules for a chaos run. On every account route: 500/502/503 and 429
 * (with Retry-After) at `rate` together; on issue, retire, policy and store mutations: the change
 * is applied and the answer lost (apply-then-drop). Rules are tried in order and the first that
 * fires wins, so mutations see a drop first and the 5xx/429 mix after it.
 */
export function cloudflareFaultRules(rate: number): FaultRuleInput[] {
  const drops: FaultRuleInput[] = Object.entries(APPLY_THEN_DROP).map(([id, operationId]) => ({
    id,
    match: { operationId },
    // Issue and retire (the hazard DESIGN.md §4 names) often; policy and store writes now and then.
    errorRate: /service-token|api-tokens/.test(operationId) ? 0.2 : 0.05,
    applyThenDrop: true,
  }));
  return [
    ...drops,
    { id: '500', match: { path: API }, errorRate: rate * 0.2, status: 500 },
    { id: '502', match: { path: API }, errorRate: rate * 0.15, status: 502 },
    { id: '503', match: { path: API }, errorRate: rate * 0.2, status: 503 },
    { id: '429', match: { path: API }, errorRate: rate * 0.45, status: 429, retryAfter: 1 },
  ];
}

/**
 * Reads that hang past the SDK's 20 s timeout. Latency applies to every request a rule matches,
 * so a storm is a rule that lives for a moment. Only reads: a mutation delayed past its client's
 * timeout lands after the retry has read state back, which no client can detect (the chaos run
 * models a lost mutation answer with apply-then-drop instead).
 */
export function latencyStormRule(latencyMs: number): FaultRuleInput {
  return { id: 'latency storm', match: { method: 'GET', path: API }, latencyMs };
}

export interface FaultFigures {
  /** Requests on Cloudflare API routes (the probe app excluded). */
  requests: number;
  /** Answered with an error status or dropped, whoever caused it. */
  failed: number;
  dropped: number;
  status429: number;
  status5xx: number;
  /** Fired per rule id (apply-then-drop, 5xx, 429). */
  fired: Record<string, number>;
}

export function faultFigures(sim: RunningSimulator, fired: Record<string, number>): FaultFigures {
  const figures: FaultFigures = { requests: 0, failed: 0, dropped: 0, status429: 0, status5xx: 0, fired };
  for (const [operationId, outcomes] of Object.entries(sim.calls.counts())) {
    if (operationId === 'probe' || operationId === 'unknown') continue;
    for (const [outcome, count] of Object.entries(outcomes)) {
      figures.requests += count;
      if (outcome === 'dropped') {
        figures.dropped += count;
        figures.failed += count;
        continue;
      }
      const status = Number(outcome);
      if (status >= 400) figures.failed += count;
      if (status === 429) figures.status429 += count;
      if (status >= 500) figures.status5xx += count;
    }
  }
  return figures;
}
