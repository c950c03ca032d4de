import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import {
  ParentClosePolicy,
  condition,
  defineQuery,
  patched,
  proxyActivities,
  setHandler,
  startChild,
} from '@temporalio/workflow';
import type { LocalActivities } from '../activities';
import type { CloudflareBudgetLoad } from '../activities/cloudflare-budget';
import type { ManagedTokenRef } from '../activities/service-token-inventory';
import { rotationWorkflowId } from '../inventory';
import { serviceTokenAttributes } from '../temporal/search-attributes';
import { rotateServiceToken, type RotationMode } from './rotation/rotate-service-token';
import type { Trigger } from './triggers';
import { budgetReads } from './activity-options';
import { failureMessage } from './failures';

export interface FanOutOutcome extends ManagedTokenRef {
  outcome: 'completed' | 'failed' | 'joined-running';
  detail?: string;
}

export interface FanOutProgress {
  total: number;
  completed: number;
  failed: number;
  /** Tokens that were already rotating: left to that rotation. */
  joined: number;
  running: number;
  /** Not started yet. */
  waiting: number;
  /** Rotations kept running at once now: it grows while the Cloudflare budget has room. */
  concurrency: number;
  /** Share of the Cloudflare budget used between the last two looks (0–1), when known. */
  budgetUse: number | null;
  startedAt: string;
  /** At the pace so far; null until a rotation has ended. */
  etaSeconds: number | null;
}

export const fanOutProgressQuery = defineQuery<FanOutProgress>('fanOutProgress');

/** How often a fan-out looks at the budget while tokens wait to start. */
const LOOK_EVERY_MS = 5_000;
const START_WITH = 4;
const AT_MOST = 200;
/** Without a budget to read (tests), rotations run this many at a time. */
const UNPACED = 20;
/** Above this share of the budget the lane is full: more rotations would only queue. */
const FULL = 0.9;
/**
 * A growth that raised the budget's use by less than this did not pay: something other than the
 * budget (the machine, Temporal, a slow store) holds the rotations back, and more at once would
 * only add load. It is undone, and the fan-out holds for a while before it tries again.
 */
const GROWTH_MUST_RAISE_USE_BY = 0.05;
const HOLD_LOOKS_AFTER_FUTILE_GROWTH = 6;

const budget = proxyActivities<LocalActivities>(budgetReads);

/** One child rotation under the token's own workflow id: a token already rotating is joined, never rotated twice. */
export async function rotateOne(token: ManagedTokenRef, mode: RotationMode, trigger: Trigger): Promise<FanOutOutcome> {
  try {
    const child = await startChild(rotateServiceToken, {
      workflowId: rotationWorkflowId(token.accountId, token.tokenName),
      args: [{ accountId: token.accountId, tokenName: token.tokenName, mode, trigger }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: serviceTokenAttributes(token, trigger.actor),
    });
    await child.result();
    return { ...token, outcome: 'completed' };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { ...token, outcome: 'joined-running' };
    return { ...token, outcome: 'failed', detail: failureMessage(error) };
  }
}

/** Share of the budget used between two readings. */
function budgetUse(before: CloudflareBudgetLoad, after: CloudflareBudgetLoad): number | null {
  const elapsed = after.at - before.at;
  return elapsed > 0 ? ((after.granted - before.granted) * after.emissionMs) / elapsed : null;
}

/** What an earlier run of the same fan-out did, carried over continue-as-new. */
export interface FanOutCarried {
  outcomes: FanOutOutcome[];
  startedAt: number;
  concurrency: number;
}

export interface PacedOptions {
  carried?: FanOutCarried;
  /**
   * Asked before each start: once true, no more rotations start; the fan-out waits for the
   * running ones and returns the tokens it did not start (the caller continues as new with them).
   */
  shouldPause?: () => boolean;
}

export interface PacedResult extends FanOutCarried {
  notStarted: ManagedTokenRef[];
}

/**
 * Rotates every token, as many at once as Cloudflare's scheduled lane can carry: it starts a
 * few, and while tokens wait it reads how much of the shared request budget is in use; below
 * nine tenths there is room, and it starts half as many again — as long as growing raised the
 * budget's use (otherwise the growth is undone: see GROWTH_MUST_RAISE_USE_BY). Once the budget
 * is full it keeps that many running (more would only wait in Temporal's queue, holding their
 * secrets' overlap) and starts the next one as each ends. One child's failure does not stop the
 * others.
 */
export async function rotateAllPaced(
  tokens: ManagedTokenRef[],
  mode: RotationMode,
  trigger: Trigger,
  options: PacedOptions = {},
): Promise<PacedResult> {
  const earlier = options.carried?.outcomes ?? [];
  const outcomes: FanOutOutcome[] = [];
  const startedAt = options.carried?.startedAt ?? Date.now();
  let next = 0;
  let running = 0;
  let ended = 0;
  let concurrency = options.carried?.concurrency ?? START_WITH;
  let use: number | null = null;
  let growth: { from: number; useBefore: number } | null = null;
  let holdLooks = 0;
  setHandler(fanOutProgressQuery, () => {
    const all = [...earlier, ...outcomes];
    const count = (outcome: FanOutOutcome['outcome']) => all.filter((o) => o.outcome === outcome).length;
    const remaining = tokens.length - outcomes.length;
    return {
      total: earlier.length + tokens.length,
      completed: count('completed'),
      failed: count('failed'),
      joined: count('joined-running'),
      running,
      waiting: tokens.length - next,
      concurrency,
      budgetUse: use,
      startedAt: new Date(startedAt).toISOString(),
      etaSeconds: all.length ? Math.round((((Date.now() - startedAt) / all.length) * remaining) / 1000) : null,
    };
  });

  let look = await budget.readCloudflareBudgetLoad();
  if (!look && !options.carried) concurrency = UNPACED;
  let lookedAt = Date.now();
  const work: Array<Promise<void>> = [];
  while (outcomes.length < tokens.length) {
    // At least one rotation per run, so a fan-out always moves forward. (History grows between
    // activations: one activation may start up to `concurrency` before the check sees it.)
    const pausing = next > 0 && (options.shouldPause?.() ?? false);
    while (!pausing && running < concurrency && next < tokens.length) {
      const token = tokens[next++]!;
      running += 1;
      work.push(
        rotateOne(token, mode, trigger).then((outcome) => {
          outcomes.push(outcome);
          running -= 1;
          ended += 1;
        }),
      );
    }
    const seen = ended;
    if (pausing || next >= tokens.length) {
      if (running === 0) break;
      await condition(() => ended !== seen);
      continue;
    }
    await condition(() => ended !== seen, LOOK_EVERY_MS);
    if (look && Date.now() - lookedAt >= LOOK_EVERY_MS) {
      // A reading that fails (Postgres away) leaves the pace as it is.
      const now = await budget.readCloudflareBudgetLoad().catch(() => null);
      use = now ? budgetUse(look, now) : null;
      if (use !== null && patched('fan-out-growth-must-pay')) {
        if (growth && use < growth.useBefore + GROWTH_MUST_RAISE_USE_BY && use < FULL) {
          concurrency = growth.from;
          holdLooks = HOLD_LOOKS_AFTER_FUTILE_GROWTH;
        } else if (holdLooks > 0) holdLooks -= 1;
        else if (use < FULL) {
          growth = { from: concurrency, useBefore: use };
          concurrency = Math.min(AT_MOST, Math.ceil(concurrency * 1.5));
          look = now ?? look;
          lookedAt = Date.now();
          continue;
        }
        growth = null;
      } else if (use !== null && use < FULL) concurrency = Math.min(AT_MOST, Math.ceil(concurrency * 1.5));
      look = now ?? look;
      lookedAt = Date.now();
    }
  }
  await Promise.all(work);
  return { outcomes: [...earlier, ...outcomes], startedAt, concurrency, notStarted: tokens.slice(next) };
}
