import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { configuredApiClients } from '../../src/api/clients';
import { ConfigError } from '../../src/config';
import { startStack, type Stack } from '../support/stack';

describe('API clients: bearer or Access service-token credentials, scopes and rate limits', () => {
  let stack: Stack;
  let dir: string;
  const secrets = {
    OPS: randomBytes(24).toString('hex'),
    BOT: randomBytes(24).toString('hex'),
    VIEWER: randomBytes(24).toString('hex'),
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-clients-'));
    stack = await startStack({
      inventory: (sim) => ({
        accounts: [
          {
            id: sim.state.createAccount({}).id,
            serviceTokens: [{ name: 'svc', targets: [{ kind: 'file', path: path.join(dir, 'svc.env') }] }],
          },
        ],
      }),
    });
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function clientsFile(): string {
    const file = path.join(dir, 'clients.yaml');
    writeFileSync(
      file,
      `clients:
  - name: ops
    bearerFrom: { env: OPS }
    scopes: ['*']
  - name: deploy-bot
    access: { clientId: bot.access, secretFrom: { env: BOT } }
    scopes: [read, rotate]
  - name: viewer
    bearerFrom: { env: VIEWER }
    scopes: [read]
    rateLimit: { max: 3, perSeconds: 60 }
`,
    );
    return file;
  }

  it("accepts Access service-token headers, enforces each route's scope with a 403 JSON error", async () => {
    const clients = configuredApiClients({ API_CLIENTS_FILE: clientsFile() }, secrets);
    const app = await stack.app({ clients });
    const bot = { 'cf-access-client-id': 'bot.access', 'cf-access-client-secret': secrets.BOT };
    expect((await app.inject({ method: 'GET', url: '/service-tokens', headers: bot })).statusCode).toBe(200);
    expect(
      (await app.inject({ method: 'POST', url: '/service-tokens/svc/rotate?dry_run=true', headers: bot })).statusCode,
    ).toBe(200);
    const revoke = await app.inject({
      method: 'POST',
      url: '/service-tokens/svc/revoke',
      headers: bot,
      payload: { reason: 'x' },
    });
    expect(revoke.statusCode).toBe(403);
    expect(revoke.json()).toEqual({
      success: false,
      error: { code: 'forbidden', message: 'client "deploy-bot" may not revoke' },
    });
    const wrongSecret = await app.inject({
      method: 'GET',
      url: '/service-tokens',
      headers: { ...bot, 'cf-access-client-secret': 'nope' },
    });
    expect(wrongSecret.statusCode).toBe(401);
    const viewer = { authorization: `Bearer ${secrets.VIEWER}` };
    expect((await app.inject({ method: 'POST', url: '/tokens/heal', headers: viewer })).statusCode).toBe(403);
    expect(
      (await app.inject({ method: 'GET', url: '/tokens/health?auto_heal=true', headers: viewer })).statusCode,
    ).toBe(403);
  });

  it('limits each client on its own: the viewer gets 429 past 3 a minute while ops carries on', async () => {
    const clients = configuredApiClients({ API_CLIENTS_FILE: clientsFile() }, secrets);
    const app = await stack.app({ clients, rateLimit: { max: 100, perSeconds: 60 } });
    const viewer = { authorization: `Bearer ${secrets.VIEWER}` };
    const statuses = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await app.inject({ method: 'GET', url: '/rotations', headers: viewer })).statusCode);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const limited = await app.inject({ method: 'GET', url: '/rotations', headers: viewer });
    expect(limited.json().error.code).toBe('rate_limited');
    expect(
      (await app.inject({ method: 'GET', url: '/rotations', headers: { authorization: `Bearer ${secrets.OPS}` } }))
        .statusCode,
    ).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);
  });

  it('refuses a bad clients file with one line per problem', () => {
    const file = path.join(dir, 'bad.yaml');
    writeFileSync(file, 'clients:\n  - name: a b\n    scopes: [fly]\n');
    expect(() => configuredApiClients({ API_CLIENTS_FILE: file }, {})).toThrow(ConfigError);
    try {
      configuredApiClients({ API_CLIENTS_FILE: file }, {});
    } catch (error) {
      expect((error as ConfigError).problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/clients\.0\.name: /),
          expect.stringMatching(/clients\.0\.scopes\.0: /),
        ]),
      );
    }
    writeFileSync(file, 'clients:\n  - name: nobody\n    scopes: [read]\n');
    expect(() => configuredApiClients({ API_CLIENTS_FILE: file }, {})).toThrow(
      /clients\.0: give exactly one of bearerFrom or access/,
    );
    expect(() => configuredApiClients({}, {})).toThrow(/CLIENT_AUTH_TOKEN: required/);
  });
});
