import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, condition, defineQuery, proxyActivities, setHandler, startChild } from '@temporalio/workflow';
import type { LocalActivities } from '../activities';
import type { CloudflareBudgetLoad } from '../activities/cloudflare-budget';
import type { ManagedTokenRef } from '../activities/service-token-inventory';
import { rotationWorkflowId } from '../inventory';
import { CloudflareAccountId, TokenKind, TokenName, TriggeredBy } from '../temporal/search-attributes';
import { rotateServiceToken, type RotationMode } from './rotate-service-token';
import type { Trigger } from './triggers';

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

const budget = proxyActivities<LocalActivities>({ startToCloseTimeout: '30s', retry: { initialInterval: '1s', maximumAttempts: 3 } });

/** One child rotation under the token's own workflow id: a token already rotating is joined, never rotated twice. */
export async function rotateOne(token: ManagedTokenRef, mode: RotationMode, trigger: Trigger): Promise<FanOutOutcome> {
  try {
    const child = await startChild(rotateServiceToken, {
      workflowId: rotationWorkflowId(token.accountId, token.tokenName),
      args: [{ accountId: token.accountId, tokenName: token.tokenName, mode, trigger }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: TokenName, value: token.tokenName },
        { key: CloudflareAccountId, value: token.accountId },
        { key: TokenKind, value: 'service-token' },
        { key: TriggeredBy, value: trigger.actor },
      ],
    });
    await child.result();
    return { ...token, outcome: 'completed' };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { ...token, outcome: 'joined-running' };
    return { ...token, outcome: 'failed', detail: error instanceof Error ? error.message : String(error) };
  }
}

/** Share of the budget used between two readings. */
function budgetUse(before: CloudflareBudgetLoad, after: CloudflareBudgetLoad): number | null {
  const elapsed = after.at - before.at;
  return elapsed > 0 ? ((after.granted - before.granted) * after.emissionMs) / elapsed : null;
}

/**
 * Rotates every token, as many at once as Cloudflare's scheduled lane can carry: it starts a
 * few, and while tokens wait it reads how much of the shared request budget is in use; below
 * nine tenths there is room, and it starts half as many again. Once the budget is full it
 * keeps that many running (more would only wait in Temporal's queue, holding their secrets'
 * overlap) and starts the next one as each ends. One child's failure does not stop the others.
 */
export async function rotateAllPaced(tokens: ManagedTokenRef[], mode: RotationMode, trigger: Trigger): Promise<FanOutOutcome[]> {
  const outcomes: FanOutOutcome[] = [];
  const startedAt = Date.now();
  let next = 0;
  let running = 0;
  let ended = 0;
  let concurrency = START_WITH;
  let use: number | null = null;
  setHandler(fanOutProgressQuery, () => {
    const count = (outcome: FanOutOutcome['outcome']) => outcomes.filter((o) => o.outcome === outcome).length;
    const remaining = tokens.length - outcomes.length;
    return {
      total: tokens.length,
      completed: count('completed'),
      failed: count('failed'),
      joined: count('joined-running'),
      running,
      waiting: tokens.length - next,
      concurrency,
      budgetUse: use,
      startedAt: new Date(startedAt).toISOString(),
      etaSeconds: outcomes.length ? Math.round(((Date.now() - startedAt) / outcomes.length) * remaining / 1000) : null,
    };
  });

  let look = await budget.readCloudflareBudgetLoad();
  if (!look) concurrency = UNPACED;
  let lookedAt = Date.now();
  const work: Array<Promise<void>> = [];
  while (outcomes.length < tokens.length) {
    while (running < concurrency && next < tokens.length) {
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
    if (next >= tokens.length) {
      await condition(() => ended !== seen);
      continue;
    }
    await condition(() => ended !== seen, LOOK_EVERY_MS);
    if (look && Date.now() - lookedAt >= LOOK_EVERY_MS) {
      // A reading that fails (Postgres away) leaves the pace as it is.
      const now = await budget.readCloudflareBudgetLoad().catch(() => null);
      use = now ? budgetUse(look, now) : null;
      if (use !== null && use < FULL) concurrency = Math.min(AT_MOST, Math.ceil(concurrency * 1.5));
      look = now ?? look;
      lookedAt = Date.now();
    }
  }
  await Promise.all(work);
  return outcomes;
}
