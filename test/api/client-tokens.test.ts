import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { configuredApiClients, MIN_CLIENT_TOKEN_LENGTH } from '../../src/api/clients';
import { localClientToken } from '../../src/runtime/client-token';
import { configProblems } from '../support/config-problems';

describe('client tokens shorter than 32 characters stop start-up with one line each', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-client-tokens-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const problems = configProblems;
  const long = () => randomBytes(24).toString('base64url');

  it('names CLIENT_AUTH_TOKEN, each short API_CLIENT_TOKENS entry and each short clients-file secret, never the value', () => {
    const short = 'x'.repeat(MIN_CLIENT_TOKEN_LENGTH - 1);
    const file = path.join(dir, 'clients.yaml');
    writeFileSync(
      file,
      `clients:\n  - name: ci\n    bearerFrom: { env: CI_TOKEN }\n    scopes: [read]\n  - name: bot\n    access: { clientId: bot.access, secretFrom: { env: BOT_SECRET } }\n    scopes: [read]\n`,
    );
    expect(
      problems(() =>
        configuredApiClients({ CLIENT_AUTH_TOKEN: short, API_CLIENT_TOKENS: `a:${long()},b:${short}` }, {}),
      ),
    ).toEqual([
      'environment: CLIENT_AUTH_TOKEN: must be at least 32 characters (generate one with: openssl rand -base64 32); it has 31',
      'environment: API_CLIENT_TOKENS: the token of "b" must be at least 32 characters (generate one with: openssl rand -base64 32); it has 31',
    ]);
    const fromFile = problems(() =>
      configuredApiClients({ API_CLIENTS_FILE: file }, { CI_TOKEN: 'hunter2', BOT_SECRET: short }),
    );
    expect(fromFile).toEqual([
      `${file}: clients.0: the secret of client "ci" must be at least 32 characters (generate one with: openssl rand -base64 32); it has 7`,
      `${file}: clients.1: the secret of client "bot" must be at least 32 characters (generate one with: openssl rand -base64 32); it has 31`,
    ]);
    expect(fromFile.join('\n')).not.toContain('hunter2');
  });

  it('accepts 32 characters and more from every source', () => {
    const file = path.join(dir, 'ok.yaml');
    writeFileSync(file, 'clients:\n  - name: ci\n    bearerFrom: { env: CI_TOKEN }\n    scopes: [read]\n');
    const clients = configuredApiClients(
      { CLIENT_AUTH_TOKEN: 'y'.repeat(32), API_CLIENT_TOKENS: `a:${long()}`, API_CLIENTS_FILE: file },
      { CI_TOKEN: long() },
    );
    expect(clients.map((c) => c.name)).toEqual(['default', 'a', 'ci']);
  });

  it('generates a long enough token in simulation mode and keeps it across restarts', () => {
    const token = localClientToken(path.join(dir, 'data'));
    expect(token.length).toBeGreaterThanOrEqual(MIN_CLIENT_TOKEN_LENGTH);
    expect(localClientToken(path.join(dir, 'data'))).toBe(token);
    expect(readFileSync(path.join(dir, 'data', 'client-auth-token'), 'utf8').trim()).toBe(token);
    expect(() => configuredApiClients({ CLIENT_AUTH_TOKEN: token }, {})).not.toThrow();
  });
});
