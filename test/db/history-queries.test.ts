import type { Pool } from 'pg';
import { createHistoryRepository } from '../../src/db/history-repository';
import type { ListPosition } from '../../src/db/keyset';
import { createRotationRepository, type RotationFilter } from '../../src/db/rotation-repository';
import { createTestDatabase, type TestDatabase } from '../support/database';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

const flatten = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(flatten)];

/**
 * 20,000 rotations (3 accounts, 20 token names, 3 steps each) and 20,000 API-token checks.
 * Rows come in blocks sharing a minute; within a block some share the same microsecond and
 * others are one microsecond apart, under every filter: a page break that kept only
 * milliseconds, or ignored the tie-breaking key, would skip or repeat rows.
 */
const SEED = `
  INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status, started_at, finished_at)
  SELECT md5('run' || g), 'rotate/w', 'acct-' || (g % 3), 'token-' || ((g / 6) % 20), 'rotate-secret', 'scheduled', 'schedule:test', 'completed',
         timestamptz '2025-06-01 12:00:00.123456+00' - (g / 6) * interval '1 minute' - ((g % 6) / 4) * interval '1 microsecond', now()
    FROM generate_series(1, 20000) g;
  INSERT INTO rotation_steps (run_id, seq, step, outcome, started_at)
  SELECT run_id, s, 'step-' || s, 'ok', started_at FROM rotations, generate_series(1, 3) s;
  INSERT INTO api_token_checks (run_id, workflow_id, kind, checked_at, triggered_by, overall_health, results)
  SELECT 'check-' || g, 'token-health/' || g, CASE WHEN g % 5 = 0 THEN 'verify' ELSE 'health' END,
         timestamptz '2025-06-01 12:00:00.123456+00' - (g / 4) * interval '1 minute' - ((g % 4) / 3) * interval '1 microsecond', 'schedule:test', 'healthy',
         jsonb_build_object('timestamp', g::text, 'summary', jsonb_build_object('account_token', null, 'user_token', null), 'report', jsonb_build_object('padding', repeat('x', 4000)))
    FROM generate_series(1, 20000) g;
  ANALYZE;`;

describe('history queries on a real PostgreSQL server', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = db.pool;
    await pool.query(SEED);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => db?.drop());

  /** The statements a repository call sends, as sent. */
  async function statementsOf(call: () => Promise<unknown>): Promise<Array<{ text: string; values: unknown[] }>> {
    const spy = jest.spyOn(pool, 'query');
    await call();
    const sent = spy.mock.calls.map(([text, values]) => ({
      text: String(text),
      values: Array.isArray(values) ? values : [],
    }));
    spy.mockRestore();
    return sent;
  }

  async function planOf(statement: { text: string; values: unknown[] }): Promise<PlanNode[]> {
    const { rows } = await pool.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode }> }>(
      `EXPLAIN (FORMAT JSON) ${statement.text}`,
      statement.values,
    );
    return flatten(rows[0]!['QUERY PLAN'][0]!.Plan);
  }

  /** The list query is an index range read in the answer's order: one of the indexes named, no scan of the table, no sort. */
  async function expectServedBy(indexes: string[], call: () => Promise<unknown>): Promise<void> {
    const [list] = await statementsOf(call);
    const nodes = await planOf(list!);
    const summary = nodes.map(
      (n) =>
        `${n['Node Type']}${n['Index Name'] ? ` using ${n['Index Name']}` : ''}${n['Relation Name'] ? ` on ${n['Relation Name']}` : ''}`,
    );
    const served = new RegExp(`^Index (Only )?Scan using (${indexes.join('|')}) `);
    expect({ statement: list!.text, plan: summary }).toEqual({
      statement: list!.text,
      plan: expect.arrayContaining([expect.stringMatching(served)]),
    });
    expect(summary.filter((s) => /Seq Scan|Sort/.test(s))).toEqual([]);
  }

  const rotations = () => createRotationRepository(pool);
  const history = () => createHistoryRepository(pool);
  const someRotation = async (filter: Omit<RotationFilter, 'limit'>): Promise<ListPosition> =>
    (await rotations().listRotationPage({ ...filter, limit: 30 })).next!;
  // With three accounts, a third of the rows match an account: reading them off the time index and filtering is as good.
  const filters: Array<[string, Omit<RotationFilter, 'limit'>, string[]]> = [
    ['no filter', {}, ['rotations_started_idx']],
    ['an account', { accountId: 'acct-1' }, ['rotations_account_started_idx', 'rotations_started_idx']],
    ['a token name', { tokenName: 'token-7' }, ['rotations_name_started_idx']],
    ['an account and a token name', { accountId: 'acct-1', tokenName: 'token-7' }, ['rotations_token_started_idx']],
  ];

  it.each(filters)(
    'serves /rotations with %s from an index in its order, first page and later ones',
    async (_name, filter, indexes) => {
      await expectServedBy(indexes, () => rotations().listRotationPage({ ...filter, limit: 50 }));
      const before = await someRotation(filter);
      await expectServedBy(indexes, () => rotations().listRotationPage({ ...filter, limit: 50, before }));
    },
  );

  it('reads a rare account off its own index', async () => {
    await rotations().startRotation({
      runId: 'rare-account-run',
      workflowId: 'rotate/w',
      accountId: 'acct-rare',
      tokenName: 'token-1',
      strategy: 'replace',
      mode: 'manual',
      triggeredBy: 'api:test',
    });
    await pool.query('ANALYZE rotations');
    try {
      await expectServedBy(['rotations_account_started_idx'], () =>
        rotations().listRotationPage({ accountId: 'acct-rare', limit: 50 }),
      );
    } finally {
      await pool.query(`DELETE FROM rotations WHERE run_id = 'rare-account-run'`);
    }
  });

  it('reads the steps of a page by their (run_id, seq) index, never the whole steps table', async () => {
    const [, steps] = await statementsOf(() => rotations().listRotationPage({ limit: 50 }));
    const nodes = await planOf(steps!);
    expect(nodes.filter((n) => n['Node Type'] === 'Seq Scan')).toEqual([]);
  });

  it('serves /tokens/history, /tokens/status and /api-tokens/checks from an index in their order', async () => {
    const checkIndexes = ['api_token_checks_kind_checked_idx', 'api_token_checks_checked_idx'];
    await expectServedBy(checkIndexes, () => history().listHealthHistory({ limit: 100 }));
    const before = (await history().listHealthHistory({ limit: 100 })).next!;
    await expectServedBy(checkIndexes, () => history().listHealthHistory({ limit: 100, before }));
    await expectServedBy(checkIndexes, () => history().listApiTokenChecks(1, 'health'));
    await expectServedBy(checkIndexes, () => history().listApiTokenChecks(10, 'verify'));
  });

  it('answers /tokens/history without the report: a few hundred bytes a row, not the results column', async () => {
    const page = await history().listHealthHistory({ limit: 100 });
    expect(page.rows).toHaveLength(100);
    expect(page.rows[0]!.summary).toEqual({
      timestamp: expect.any(String),
      summary: { account_token: null, user_token: null },
    });
    const [list] = await statementsOf(() => history().listHealthHistory({ limit: 100 }));
    expect(list!.text).not.toMatch(/\bresults\b/);
  });

  describe('keyset pagination', () => {
    async function expectedRunIds(filter: Omit<RotationFilter, 'limit'>): Promise<string[]> {
      const { rows } = await pool.query<{ run_id: string; at: string }>(
        `SELECT run_id, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at FROM rotations
          WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR token_name = $2)`,
        [filter.accountId ?? null, filter.tokenName ?? null],
      );
      // Ordered here, not by the database: newest first, ties by run id, descending.
      return rows
        .sort((a, b) => (a.at === b.at ? (a.run_id < b.run_id ? 1 : -1) : a.at < b.at ? 1 : -1))
        .map((r) => r.run_id);
    }

    async function pageThrough(filter: Omit<RotationFilter, 'limit'>, limit: number): Promise<string[]> {
      const seen: string[] = [];
      let before: ListPosition | undefined;
      for (let pages = 0; pages < 10_000; pages++) {
        const page = await rotations().listRotationPage({ ...filter, limit, before });
        expect(page.rows.length).toBeLessThanOrEqual(limit);
        seen.push(...page.rows.map((r) => r.runId));
        if (!page.next) return seen;
        expect(page.rows).toHaveLength(limit);
        before = page.next;
      }
      throw new Error('pagination did not end');
    }

    it.each(filters)('returns every rotation with %s exactly once, in order, across pages', async (_name, filter) => {
      const limit = filter.tokenName ? 7 : 250;
      const expected = await expectedRunIds(filter);
      expect(expected.length).toBeGreaterThan(100);
      expect(await pageThrough(filter, limit)).toEqual(expected);
    });

    it('keeps each rotation page its steps', async () => {
      const page = await rotations().listRotationPage({
        tokenName: 'token-3',
        limit: 5,
        before: await someRotation({ tokenName: 'token-3' }),
      });
      for (const row of page.rows) expect(row.steps.map((s) => s.seq)).toEqual([1, 2, 3]);
    });

    it('is not shifted by rows written between two pages', async () => {
      const first = await rotations().listRotationPage({ tokenName: 'token-11', limit: 10 });
      await rotations().startRotation({
        runId: 'newest-run',
        workflowId: 'rotate/w',
        accountId: 'acct-0',
        tokenName: 'token-11',
        strategy: 'replace',
        mode: 'manual',
        triggeredBy: 'api:test',
      });
      const second = await rotations().listRotationPage({ tokenName: 'token-11', limit: 10, before: first.next! });
      const all = await expectedRunIds({ tokenName: 'token-11' });
      expect([...first.rows, ...second.rows].map((r) => r.runId)).toEqual(
        all.filter((id) => id !== 'newest-run').slice(0, 20),
      );
      await pool.query(`DELETE FROM rotations WHERE run_id = 'newest-run'`);
    });

    it('returns every health check exactly once, in order, across pages, and no verify run', async () => {
      const { rows } = await pool.query<{ run_id: string }>(
        `SELECT run_id FROM api_token_checks WHERE kind = 'health' ORDER BY checked_at DESC, id DESC`,
      );
      const seen: string[] = [];
      let before: ListPosition | undefined;
      for (;;) {
        const page = await history().listHealthHistory({ limit: 100, before });
        seen.push(...page.rows.map((r) => r.runId));
        if (!page.next) break;
        before = page.next;
      }
      expect(seen).toEqual(rows.map((r) => r.run_id));
      expect(seen).toHaveLength(16_000);
    });
  });
});
