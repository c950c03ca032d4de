import { startApiStack, type ApiStack } from './support';

interface Operation {
  security?: unknown[];
  parameters?: Array<{ in: string; name: string }>;
  requestBody?: { required?: boolean };
  responses: Record<string, unknown>;
}

describe('the OpenAPI document names every status each route can answer', () => {
  let api: ApiStack;
  let operations: Array<{ label: string; operation: Operation }>;

  beforeAll(async () => {
    api = await startApiStack();
    const app = await api.app();
    const document = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as {
      paths: Record<string, Record<string, Operation>>;
    };
    operations = Object.entries(document.paths).flatMap(([path, byMethod]) =>
      Object.entries(byMethod).map(([method, operation]) => ({ label: `${method.toUpperCase()} ${path}`, operation })),
    );
  });
  afterAll(async () => {
    await api?.close();
  });

  const statuses = (operation: Operation) => Object.keys(operation.responses);
  const missing = (expected: string[]) =>
    operations.flatMap(({ label, operation }) => {
      const absent = expected.filter((s) => !statuses(operation).includes(s));
      return absent.length ? [`${label}: ${absent.join(', ')}`] : [];
    });

  it('lists /health and /ready as public operations', () => {
    const labels = operations.map((o) => o.label);
    expect(labels).toEqual(expect.arrayContaining(['GET /health', 'GET /ready']));
    for (const label of ['GET /health', 'GET /ready'])
      expect(operations.find((o) => o.label === label)!.operation.security).toEqual([]);
    expect(statuses(operations.find((o) => o.label === 'GET /ready')!.operation)).toEqual(
      expect.arrayContaining(['200', '503']),
    );
  });

  it('documents 401, 403 and 429 on every authenticated operation, 400 wherever there is input, 413 and 415 wherever there is a body', () => {
    const authenticated = operations.filter(({ operation }) => !operation.security || operation.security.length > 0);
    expect(authenticated.length).toBeGreaterThan(10);
    const problems = authenticated.flatMap(({ label, operation }) => {
      const expected = ['401', '403', '429'];
      if (operation.parameters?.length || operation.requestBody) expected.push('400');
      if (operation.requestBody) expected.push('413', '415');
      if (operation.parameters?.some((p) => p.in === 'path')) expected.push('414');
      const absent = expected.filter((s) => !statuses(operation).includes(s));
      return absent.length ? [`${label}: ${absent.join(', ')}`] : [];
    });
    expect(problems).toEqual([]);
  });

  it('documents 404, 409 and 503 where they occur, and never a 500', () => {
    const of = (label: string) => statuses(operations.find((o) => o.label === label)!.operation);
    expect(of('POST /service-tokens/{name}/rotate')).toEqual(
      expect.arrayContaining(['200', '202', '404', '409', '503']),
    );
    expect(of('POST /service-tokens/{name}/revoke')).toEqual(expect.arrayContaining(['202', '404', '503']));
    expect(of('GET /workflows/{*}')).toEqual(expect.arrayContaining(['404', '503']));
    expect(of('GET /tokens/status')).toContain('503');
    expect(missing(['500']).length).toBe(operations.length);
  });

  it('marks a body the route accepts absent as not required', () => {
    const body = (label: string) => operations.find((o) => o.label === label)!.operation.requestBody;
    expect(body('POST /api-tokens/verify')?.required).toBe(false);
    expect(body('POST /service-tokens/{name}/rotate')?.required).toBe(false);
    expect(body('POST /service-tokens/{name}/revoke')?.required).toBe(true);
  });
});
