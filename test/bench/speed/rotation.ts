import { tsToMs } from '@temporalio/common/lib/time';
import { rotationWorkflowId } from '../../../src/inventory';
import { CloudflareAccountId, TokenKind, TokenName, TriggeredBy } from '../../../src/temporal/search-attributes';
import type { FloorWorker } from '../floor';
import { discoverFirst, listsBeforeRotate } from '../discovery';
import { describeRevoke } from '../figures';
import { revokeLatency } from '../phases';
import type { BenchStack } from '../stack';
import { timerMs, type TimerEvent } from './figures';
import type { RotationFloor } from './rotation-floor';

const ACTOR = 'api:bench-speed';

export interface RotationSample {
  token: string;
  /** start → result, minus the time in its timers; null when the rotation failed. */
  ms: number | null;
  totalMs: number;
  timerMs: number;
  problem?: string;
}

export interface RotationSpeed {
  samples: RotationSample[];
  floors: number[];
}

/** Each run's tokens: its own, so no rotation finds another's leftovers. */
export function speedTokens(stack: BenchStack, from: number, count: number): string[] {
  const names = stack.world.tokens.slice(from, from + count).map((t) => t.name);
  if (names.length < count) throw new Error(`the speed stack has too few tokens (${names.length} of ${count})`);
  return names;
}

/**
 * P3: rotate-secret rotations (a file store, no probe, a 1 ms propagation wait), started as the
 * API starts one, end to end (start → result) minus the time in their timers, each followed by a
 * bare 6-activity workflow on the same dev server. The first token's rotation is an unmeasured
 * warm-up (the worker's first run of the workflow builds its sandbox, as the floor's first does).
 */
export async function measureRotations(
  stack: BenchStack,
  floor: RotationFloor,
  tokens: readonly string[],
  log: (line: string) => void,
): Promise<RotationSpeed> {
  const { accountId } = stack.world;
  const samples: RotationSample[] = [];
  const floors: number[] = [];
  for (const [i, name] of tokens.entries()) {
    const warmUp = i === 0;
    const began = Date.now();
    const handle = await stack.client.workflow.start('rotateServiceToken', {
      taskQueue: stack.taskQueue,
      workflowId: rotationWorkflowId(accountId, name),
      args: [{ accountId, tokenName: name, mode: 'manual', trigger: { actor: ACTOR } }],
      typedSearchAttributes: [
        { key: TokenName, value: name },
        { key: CloudflareAccountId, value: accountId },
        { key: TokenKind, value: 'service-token' },
        { key: TriggeredBy, value: ACTOR },
      ],
    });
    let problem: string | undefined;
    await handle.result().catch((error: unknown) => {
      problem = error instanceof Error ? error.message : String(error);
    });
    const totalMs = Date.now() - began;
    const { events } = await handle.fetchHistory();
    const timers: TimerEvent[] = [];
    for (const e of events ?? []) {
      const at = e.eventTime ? tsToMs(e.eventTime) : 0;
      if (e.timerStartedEventAttributes?.timerId)
        timers.push({ kind: 'started', timerId: e.timerStartedEventAttributes.timerId, at });
      if (e.timerFiredEventAttributes?.timerId)
        timers.push({ kind: 'fired', timerId: e.timerFiredEventAttributes.timerId, at });
    }
    const waited = timerMs(timers);
    const floorMs = await floor.measure();
    log(
      `speed P3 ${warmUp ? 'warm-up' : `${i}/${tokens.length - 1}`}: rotation ${totalMs} ms (${waited} ms in timers)${problem ? ` FAILED: ${problem}` : ''}; floor ${floorMs} ms`,
    );
    if (warmUp) continue;
    floors.push(floorMs);
    samples.push({
      token: name,
      ms: problem ? null : totalMs - waited,
      totalMs,
      timerMs: waited,
      ...(problem ? { problem } : {}),
    });
  }
  return { samples, floors };
}

export interface RevokeSpeed {
  revokes: Array<number | null>;
  floors: Array<number | null>;
  notes: string[];
}

/**
 * P4: on an idle system, POST /service-tokens/:name/revoke → Cloudflare's `rotate` of that token
 * at the simulator, each followed by the fleet phase's bare floor (signalWithStart + one activity
 * with one HTTP call). Each revoke's run is let finish before the next sample; the first token's
 * revoke is an unmeasured warm-up.
 */
export async function measureRevokes(
  stack: BenchStack,
  floor: FloorWorker,
  tokens: readonly string[],
  log: (line: string) => void,
): Promise<RevokeSpeed> {
  const revokes: Array<number | null> = [];
  const floors: Array<number | null> = [];
  const notes: string[] = [];
  await discoverFirst(stack, notes, 'P4');
  let listedFirst = 0;
  for (const [i, name] of tokens.entries()) {
    const token = stack.world.tokens.find((t) => t.name === name)!;
    const warmUp = i === 0;
    const from = stack.requests.mark();
    const sample = await revokeLatency(stack, token, warmUp ? [] : notes);
    if (!warmUp && listsBeforeRotate(stack.requests.since(from), stack.world.accountId, token.tokenId)) listedFirst++;
    await stack.client.workflow
      .getHandle(rotationWorkflowId(stack.world.accountId, name))
      .result()
      .catch((error: unknown) =>
        notes.push(`revoke run of ${name}: ${error instanceof Error ? error.message : String(error)}`),
      );
    const floorMs = await floor.measure(60_000);
    log(
      `speed P4 ${warmUp ? 'warm-up' : `${i}/${tokens.length - 1}`}: revoke ${describeRevoke(sample)}; floor ${floorMs ?? 'missing'} ms`,
    );
    if (warmUp) continue;
    revokes.push(sample.ms);
    floors.push(floorMs);
  }
  notes.push(
    `${tokens.length - 1 - listedFirst} of ${tokens.length - 1} revokes sent the rotate as their first Cloudflare request (the id discovery recorded); ${listedFirst} listed first`,
  );
  return { revokes, floors, notes };
}
