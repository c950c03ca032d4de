import type { FastifyInstance } from 'fastify';
import { startApiStack, type ApiStack } from './support';

describe('/rotations and /tokens/history page back with before=, and answer a malformed or foreign cursor with a 400', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let headers: { authorization: string };
  const otherAccount = 'f'.repeat(32);

  beforeAll(async () => {
    api = await startApiStack();
    app = await api.app();
    headers = api.stack.auth;
    // Rows in pairs sharing a microsecond, and pairs one microsecond apart: pages must break between them exactly.
    await api.stack.db.pool.query(
      `INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status, started_at)
       SELECT md5('run' || g), 'rotate/w', CASE WHEN g % 4 = 0 THEN $2 ELSE $1 END, CASE WHEN g % 3 = 0 THEN 'other' ELSE 'svc' END,
              'rotate-secret', 'manual', 'api:test', 'completed',
              timestamptz '2025-06-01 12:00:00.5+00' - (g / 4) * interval '1 second' - ((g % 4) / 2) * interval '1 microsecond'
         FROM generate_series(1, 90) g`,
      [api.accountId, otherAccount],
    );
    await api.stack.db.pool.query(
      `INSERT INTO api_token_checks (run_id, workflow_id, kind, checked_at, triggered_by, overall_health, results)
       SELECT 'check-' || g, 'token-health/' || g, CASE WHEN g % 6 = 0 THEN 'verify' ELSE 'health' END,
              timestamptz '2025-06-01 12:00:00.5+00' - (g / 3) * interval '1 second', 'schedule:test', 'healthy',
              jsonb_build_object('timestamp', '2025-06-01T12:00:00.000Z', 'summary', jsonb_build_object('account_token', null, 'user_token', null), 'report', '{}'::jsonb)
         FROM generate_series(1, 40) g`,
    );
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => api?.close());

  const get = (url: string) => app.inject({ method: 'GET', url, headers });

  async function pageThrough(path: string, list: 'rotations' | 'history', limit: number): Promise<string[]> {
    const seen: string[] = [];
    let before: string | null = null;
    for (let pages = 0; pages < 100; pages++) {
      const response = await get(
        `${path}${path.includes('?') ? '&' : '?'}limit=${limit}${before ? `&before=${before}` : ''}`,
      );
      expect(response.statusCode).toBe(200);
      const data = response.json().data;
      seen.push(
        ...(list === 'rotations'
          ? data.rotations.map((r: { run_id: string }) => r.run_id)
          : data.history.map((h: { workflow_id: string }) => h.workflow_id)),
      );
      expect(data.count).toBe(list === 'rotations' ? data.rotations.length : data.history.length);
      if (data.next_before === null) return seen;
      before = data.next_before;
    }
    throw new Error('pagination did not end');
  }

  async function expectedRotations(accountId: string | null, token: string | null): Promise<string[]> {
    const { rows } = await api.stack.db.pool.query<{ run_id: string; at: string }>(
      `SELECT run_id, to_char(started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS at FROM rotations
        WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR token_name = $2)`,
      [accountId, token],
    );
    return rows
      .sort((a, b) => (a.at === b.at ? (a.run_id < b.run_id ? 1 : -1) : a.at < b.at ? 1 : -1))
      .map((r) => r.run_id);
  }

  it.each([
    ['no filter', '', null, null],
    ['a token', 'token=svc', null, 'svc'],
    ['an account', 'account_id=ACCOUNT', 'ACCOUNT', null],
    ['an account and a token', 'account_id=ACCOUNT&token=svc', 'ACCOUNT', 'svc'],
  ])(
    'lists every rotation with %s exactly once, newest first, across pages',
    async (_name, query, accountId, token) => {
      const resolve = (value: string | null) => value?.replace('ACCOUNT', api.accountId) ?? null;
      const expected = await expectedRotations(resolve(accountId), token);
      expect(expected.length).toBeGreaterThan(20);
      expect(await pageThrough(`/rotations?${resolve(query)}`, 'rotations', 4)).toEqual(expected);
      expect(await pageThrough(`/rotations?${resolve(query)}`, 'rotations', expected.length)).toEqual(expected);
    },
  );

  it('lists every health run exactly once, newest first, across pages, without the verify runs', async () => {
    const { rows } = await api.stack.db.pool.query<{ workflow_id: string }>(
      `SELECT workflow_id FROM api_token_checks WHERE kind = 'health' ORDER BY checked_at DESC, id DESC`,
    );
    expect(await pageThrough('/tokens/history', 'history', 3)).toEqual(rows.map((r) => r.workflow_id));
    const last = await get('/tokens/history?limit=100');
    expect(last.json().data).toMatchObject({ count: rows.length, next_before: null });
  });

  it('refuses a malformed, forged or foreign cursor with a 400 naming before=, and never queries Postgres', async () => {
    const rotations = jest.spyOn(api.stack.rotations, 'listRotationPage');
    const history = jest.spyOn(api.stack.history, 'listHealthHistory');
    const healthCursor = (await get('/tokens/history?limit=1')).json().data.next_before as string;
    const rotationCursor = (await get('/rotations?limit=1')).json().data.next_before as string;
    history.mockClear();
    rotations.mockClear();
    const bad = [
      '',
      'not a cursor!',
      '\u0000',
      `r1748779200123456-${'61'.repeat(501)}`, // a key longer than any run id
      'r1748779200123456-', // no key
      'r1748779200123456-6100', // a NUL in the key
      'r1748779200123456-6', // half a byte
      'r01748779200123456-61', // a leading zero
      'r17487792001234567-61', // past the year 2286
      'r-1-61',
      'r1748779200123456-61\n',
    ];
    for (const before of [...bad, healthCursor]) {
      const response = await get(`/rotations?before=${encodeURIComponent(before)}`);
      expect({ before, status: response.statusCode, error: response.json().error }).toEqual({
        before,
        status: 400,
        error: { code: 'validation_error', message: expect.stringContaining('querystring.before') },
      });
    }
    for (const before of [
      'h1748779200123456-12a',
      'h1748779200123456-1234567890123456789',
      'h1748779200123456-01',
      rotationCursor,
    ]) {
      const response = await get(`/tokens/history?before=${encodeURIComponent(before)}`);
      expect({ before, status: response.statusCode, code: response.json().error?.code }).toEqual({
        before,
        status: 400,
        code: 'validation_error',
      });
    }
    expect(rotations).not.toHaveBeenCalled();
    expect(history).not.toHaveBeenCalled();
  });

  it('answers 200 for any cursor its published pattern allows, a page of what lies before that position', async () => {
    const rotationsRows = await expectedRotations(null, null);
    // 2025-06-01T11:59:55.500000Z with the run id "z": after every seeded row of 11:59:55 but none of 11:59:56.
    const response = await get(`/rotations?limit=100&before=r1748779195500000-${Buffer.from('z').toString('hex')}`);
    expect(response.statusCode).toBe(200);
    const listed = response.json().data.rotations.map((r: { run_id: string }) => r.run_id);
    expect(listed).toEqual(rotationsRows.slice(rotationsRows.length - listed.length));
    expect(listed.length).toBeGreaterThan(0);
    expect(listed.length).toBeLessThan(rotationsRows.length);
    for (const before of ['r0-01', 'r9999999999999999-ff', 'h0-0', 'h9999999999999999-999999999999999999']) {
      const status = (await get(`/${before.startsWith('r') ? 'rotations' : 'tokens/history'}?before=${before}`))
        .statusCode;
      expect({ before, status }).toEqual({ before, status: 200 });
    }
  });

  it('documents before= with its exact pattern, and next_before, in the OpenAPI document', async () => {
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    for (const path of ['/rotations', '/tokens/history']) {
      const operation = document.paths[path].get;
      expect(operation.parameters).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            in: 'query',
            name: 'before',
            required: false,
            description: expect.stringContaining('next_before'),
            schema: expect.objectContaining({ pattern: expect.stringMatching(/^\^[rh]/) }),
          }),
        ]),
      );
      const data = operation.responses['200'].content['application/json'].schema.properties.data;
      expect(data.properties.next_before).toEqual(
        expect.objectContaining({ description: expect.stringContaining('before=') }),
      );
    }
  });
});
