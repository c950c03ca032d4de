/**
 * Lanes of Cloudflare work, highest priority first. Pure, so workflows can import it.
 * - emergency: a revoke of a compromised credential; may use headroom no other lane can.
 * - interactive: what an operator asked for through the API (rotate, heal, check).
 * - scheduled: schedules, their fan-out, sweeps and discovery.
 */
export const LANES = ['emergency', 'interactive', 'scheduled'] as const;
export type Lane = (typeof LANES)[number];

/** 0 for the highest lane. */
export const laneRank = (lane: Lane): number => LANES.indexOf(lane);
