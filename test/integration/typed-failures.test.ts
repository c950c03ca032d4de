import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type Cloudflare from 'cloudflare';
import { FAILURE_TYPES } from '../../src/activities/failure-types';
import { createHistoryActivities } from '../../src/activities/history';
import { createPropagationActivities } from '../../src/activities/propagation';
import { createRotationRecordActivities } from '../../src/activities/rotation-records';
import { createServiceTokenActivities } from '../../src/activities/service-tokens';
import { inventorySchema } from '../../src/config';
import { createHistoryRepository } from '../../src/db/history-repository';
import { createPool } from '../../src/db/pool';
import { createRotationRepository } from '../../src/db/rotation-repository';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import type { EncryptionKeys } from '../../src/temporal/codec';
import { createTestDatabase, type TestDatabase } from '../support/database';

const keys = (id: string): EncryptionKeys => ({ currentKeyId: id, keys: new Map([[id, randomBytes(32)]]) });

/** What Temporal would do with a failure: retry it, or stop. */
async function outcome(
  work: Promise<unknown>,
): Promise<{ type: string | null | undefined; final: boolean; message: string } | 'ok'> {
  try {
    await work;
    return 'ok';
  } catch (error) {
    if (error instanceof ApplicationFailure)
      return { type: error.type, final: error.nonRetryable === true, message: error.message };
    return {
      type: error instanceof Error ? error.constructor.name : typeof error,
      final: false,
      message: String(error),
    };
  }
}

/**
 * Item 5 of issue 11 (and item 1's data errors): what can never get better fails for good, with a
 * type from the one list; what may pass (Postgres away) is retried. Real Postgres, real rows.
 */
describe('activity failures that retrying cannot change, against a real Postgres', () => {
  let db: TestDatabase;
  let dir: string;
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR', () => undefined) });
  const accountId = randomBytes(16).toString('hex');

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-typed-'));
  });
  afterAll(async () => {
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const inventory = () =>
    inventorySchema.parse({
      accounts: [
        {
          id: accountId,
          serviceTokens: [{ name: 'api', targets: [{ kind: 'file', path: path.join(dir, 'api.env') }] }],
        },
      ],
    });

  it('stores an audit row whose reason Postgres cannot store with the character replaced, once, and says so', async () => {
    const history = createHistoryRepository(db.pool);
    const activities = createHistoryActivities(history);
    const runId = randomUUID();

    const result = await env.run(activities.recordAudit, {
      actor: 'api:ops',
      action: 'rotate.manual',
      subject: 'api',
      workflowId: 'rotate/x/api',
      runId,
      details: { reason: 'leaked \u0000 in CI' },
    });

    expect(result).toEqual({ stored: 'sanitized', problem: expect.stringMatching(/^22/) });
    const [row] = (await history.listAudit(20, 'api')).filter((a) => a.runId === runId);
    expect(row?.details).toEqual({ reason: 'leaked \uFFFD in CI' });
  });

  it('fails a history row Postgres refuses even cleaned for good, as HistoryDataRejected', async () => {
    const activities = createRotationRecordActivities({
      inventory: inventory(),
      history: createHistoryRepository(db.pool),
      rotations: createRotationRepository(db.pool),
      pending: createPendingSecretStore(db.pool, createSecretBox(keys('k'))),
    });
    // A step of a run that has no row: the foreign key refuses it, whatever is retried.
    const result = await outcome(
      env.run(activities.recordRotationStep, {
        runId: randomUUID(),
        seq: 1,
        step: 'resolve',
        outcome: 'ok' as const,
        startedAt: new Date().toISOString(),
        details: {},
      }),
    );
    expect(result).toMatchObject({ type: 'HistoryDataRejected', final: true, message: expect.stringMatching(/23503/) });
  });

  it('retries a history row while Postgres cannot be reached', async () => {
    const pool = createPool('postgres://postgres@127.0.0.1:1/nowhere');
    try {
      const activities = createHistoryActivities(createHistoryRepository(pool));
      const result = await outcome(env.run(activities.recordAudit, { actor: 'api:ops', action: 'rotate.manual' }));
      expect(result).toMatchObject({ final: false });
    } finally {
      await pool.end();
    }
  });

  it('fails a store write for good when its pending-secret reference names nothing, or is not a reference', async () => {
    const pending = createPendingSecretStore(db.pool, createSecretBox(keys('k')));
    const activities = createPropagationActivities({
      inventory: inventory(),
      pending,
      stores: { cloudflare: () => ({}) as Cloudflare, env: {} },
    });
    for (const ref of [randomUUID(), 'not-a-uuid']) {
      expect(
        await outcome(env.run(activities.propagateToStore, { accountId, tokenName: 'api', targetIndex: 0, ref })),
      ).toMatchObject({ type: 'PendingSecretMissing', final: true });
    }
  });

  it('fails for good when a staged secret does not open: tampered ciphertext or a key this process does not have', async () => {
    const pending = createPendingSecretStore(db.pool, createSecretBox(keys('k1')));
    const token = { accountId, tokenName: 'api' };
    const tampered = (
      await pending.stagePending(token, randomUUID(), { clientId: 'id.access', clientSecret: 'secret-value' })
    ).ref;
    await db.pool.query(
      `UPDATE pending_secrets SET ciphertext = overlay(ciphertext placing '\\xff'::bytea from 20 for 1) WHERE ref = $1`,
      [tampered],
    );
    const activities = createPropagationActivities({
      inventory: inventory(),
      pending,
      stores: { cloudflare: () => ({}) as Cloudflare, env: {} },
    });
    const opened = await outcome(
      env.run(activities.propagateToStore, { accountId, tokenName: 'api', targetIndex: 0, ref: tampered }),
    );
    expect(opened).toMatchObject({ type: 'PendingSecretUnreadable', final: true });
    expect(JSON.stringify(opened)).not.toContain('secret-value');

    const otherKey = (
      await createPendingSecretStore(db.pool, createSecretBox(keys('k2'))).stagePending(token, randomUUID(), {
        clientId: 'id.access',
        clientSecret: 'secret-value',
      })
    ).ref;
    expect(
      await outcome(env.run(activities.restoreStore, { accountId, tokenName: 'api', targetIndex: 0, ref: otherKey })),
    ).toMatchObject({ type: 'PendingSecretUnreadable', final: true });
  });

  it('fails for good on service-token data without the fields a rotation decides on', async () => {
    const page = { getPaginatedItems: () => [{ id: 'tok-1', name: 'api' }] };
    const client = { zeroTrust: { access: { serviceTokens: { list: async () => page } } } } as unknown as Cloudflare;
    const activities = createServiceTokenActivities({
      inventory: inventory(),
      wardenClient: () => client,
      pending: createPendingSecretStore(db.pool, createSecretBox(keys('k'))),
    });
    expect(await outcome(env.run(activities.resolveServiceToken, { accountId, tokenName: 'api' }))).toMatchObject({
      type: 'CloudflareContract',
      final: true,
      message: expect.stringMatching(/client_id/),
    });
  });

  it('throws only typed failures from activities, every type from the one list', () => {
    const root = path.join(__dirname, '../../src/activities');
    const sources = readdirSync(root)
      .filter((f) => f.endsWith('.ts') && f !== 'failure-types.ts')
      .map((f) => [f, readFileSync(path.join(root, f), 'utf8')] as const);
    expect(sources.filter(([, text]) => /throw new Error\(/.test(text)).map(([f]) => f)).toEqual([]);
    expect(sources.filter(([, text]) => /ApplicationFailure\.create\(/.test(text)).map(([f]) => f)).toEqual([]);
    const used = sources.flatMap(([, text]) =>
      [...text.matchAll(/(?:permanentFailure|retryableFailure)\('([A-Za-z]+)'/g)].map((m) => m[1]),
    );
    expect(used.filter((type) => !(FAILURE_TYPES as readonly string[]).includes(type!))).toEqual([]);
  });
});
