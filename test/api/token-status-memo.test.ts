import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { sharedWhileRunning, singleFlightMemo } from '../../src/single-flight-memo';
import { ageMsOf, recordedStatus, statusReply, statusReplyJson } from '../../src/api/token-status-answer';
import { statusAnswerSchema, type StatusSource } from '../../src/health/status-wire';
import { statusToken } from '../health/status-source';

/** A read whose answers the test releases one by one, counting the reads. */
function controlledRead<T>() {
  const pending: Array<{ resolve: (value: T) => void; reject: (error: Error) => void }> = [];
  return {
    pending,
    read: () => new Promise<T>((resolve, reject) => pending.push({ resolve, reject })),
  };
}

const flush = () => new Promise((resolve) => setImmediate(resolve));

describe('singleFlightMemo', () => {
  let clock = 0;
  const now = () => clock;
  beforeEach(() => {
    clock = 1_000_000;
  });

  it('shares one read among concurrent callers and keeps its value for the ttl, then reads again', async () => {
    const source = controlledRead<string>();
    const memo = singleFlightMemo(source.read, { ttlMs: 1_000, now });
    const waiting = [memo.get(), memo.get(), memo.get()];
    expect(source.pending).toHaveLength(1);
    source.pending[0]!.resolve('first');
    expect(await Promise.all(waiting)).toEqual(['first', 'first', 'first']);

    clock += 999;
    expect(await memo.get()).toBe('first');
    expect(source.pending).toHaveLength(1);

    clock += 1;
    const next = memo.get();
    expect(source.pending).toHaveLength(2);
    source.pending[1]!.resolve('second');
    expect(await next).toBe('second');
  });

  it('keeps nothing a failed read answered, and nothing `keep` refuses', async () => {
    const source = controlledRead<string | null>();
    const memo = singleFlightMemo(source.read, { ttlMs: 1_000, now, keep: (value) => value !== null });
    const failing = [memo.get(), memo.get()];
    source.pending[0]!.reject(new Error('postgres is down'));
    for (const attempt of failing) await expect(attempt).rejects.toThrow('postgres is down');

    const refused = memo.get();
    expect(source.pending).toHaveLength(2);
    source.pending[1]!.resolve(null);
    expect(await refused).toBeNull();

    void memo.get();
    expect(source.pending).toHaveLength(3);
  });

  it('after invalidate, reads again and never keeps what a read begun before answered', async () => {
    const source = controlledRead<string>();
    const memo = singleFlightMemo(source.read, { ttlMs: 1_000, now });
    const before = memo.get();
    memo.invalidate();
    const after = memo.get();
    expect(source.pending).toHaveLength(2);
    source.pending[0]!.resolve('older');
    source.pending[1]!.resolve('newer');
    expect(await before).toBe('older');
    expect(await after).toBe('newer');
    await flush();
    expect(await memo.get()).toBe('newer');
    expect(source.pending).toHaveLength(2);
  });

  it('with a ttl of 0 (sharedWhileRunning), shares a read while it runs and keeps nothing after it', async () => {
    const source = controlledRead<number>();
    const shared = sharedWhileRunning(source.read);
    const together = [shared(), shared()];
    expect(source.pending).toHaveLength(1);
    source.pending[0]!.resolve(1);
    expect(await Promise.all(together)).toEqual([1, 1]);
    const later = shared();
    expect(source.pending).toHaveLength(2);
    source.pending[1]!.resolve(2);
    expect(await later).toBe(2);
  });
});

describe('the /tokens/status answer from a memoized record', () => {
  const source = (ageMs: number, now: number): StatusSource => {
    const runId = randomUUID();
    return {
      workflowId: `token-health/${runId}`,
      runId,
      timestamp: new Date(now - ageMs).toISOString(),
      overallHealth: 'degraded',
      recommendations: ['grant API Tokens: Edit'],
      tokens: [
        statusToken('a', 'account'),
        statusToken('u', 'user', ['API Tokens: Edit']),
        statusToken('extra', 'user', ['API Tokens: Edit']),
      ],
    };
  };

  it('states the age at answer time, not at the time the record was read', () => {
    const readAt = Date.parse('2026-12-01T12:00:00Z');
    const recorded = recordedStatus(source(30_000, readAt));
    expect(
      statusReply(recorded, { maxAgeMs: 60_000, refreshStarted: false, refresh: null }, readAt).data,
    ).toMatchObject({ age_seconds: 30, stale: false });
    const later = readAt + 45_000;
    expect(ageMsOf(recorded, later)).toBe(75_000);
    expect(statusReply(recorded, { maxAgeMs: 60_000, refreshStarted: false, refresh: null }, later).data).toMatchObject(
      { age_seconds: 75, stale: true, max_age_seconds: 60 },
    );
  });

  it('writes byte for byte what the route schema would serialize', () => {
    const now = Date.now();
    const recorded = recordedStatus(source(2_500, now));
    const replies = [
      statusReply(recorded, { maxAgeMs: 900_000, refreshStarted: false, refresh: null }, now),
      statusReply(
        recorded,
        { maxAgeMs: 900_000, refreshStarted: true, refresh: { workflow_id: 'token-health/x', state: 'running' } },
        now,
      ),
    ];
    const schema = z.object({ success: z.literal(true), data: statusAnswerSchema });
    for (const reply of replies) {
      expect(statusReplyJson(recorded, reply)).toBe(JSON.stringify(z.encode(schema, reply)));
      expect(JSON.parse(statusReplyJson(recorded, reply)).data.additional_tokens).toHaveLength(1);
    }
  });
});
