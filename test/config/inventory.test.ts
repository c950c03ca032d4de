import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseEnvironment, parseInventory } from '../../src/config';
import { configProblems } from '../support/config-problems';

const problems = configProblems;

const valid = `
accounts:
  - id: \${ACCOUNT}
    apiTokens:
      - name: account-token
        kind: account
        secretFrom: { env: CLOUDFLARE_ACCOUNT_TOKEN }
        requiredPermissions: [Workers Scripts Write]
    serviceTokens:
      - name: ci
        strategy: replace
        overlap: 10m
        probeUrl: http://127.0.0.1:9/probe
        targets:
          - kind: file
            path: /tmp/ci.env
`;

describe('inventory file', () => {
  it('parses a valid file, filling defaults and expanding ${VARS}', () => {
    const inventory = parseInventory(valid, 'inv.yaml', { ACCOUNT: 'acc123' });
    const account = inventory.accounts[0]!;
    expect(account.id).toBe('acc123');
    expect(account.serviceTokens[0]).toMatchObject({
      name: 'ci',
      strategy: 'replace',
      overlap: '10m',
      renewBefore: '720h',
      propagationWait: '30s',
    });
    expect(Object.isFrozen(account.serviceTokens[0])).toBe(true);
  });

  it('reports one line per problem with its path in the file, and no stack', () => {
    const bad = `
accounts:
  - id: acc
    apiTokens:
      - name: Bad Name
        kind: robot
        secretFrom: { value: plaintext-secret }
    serviceTokens:
      - name: ci
        strategy: sideways
        overlap: soon
`;
    const lines = problems(() => parseInventory(bad, 'inv.yaml'));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^inv\.yaml: accounts\.0\.apiTokens\.0\.name: /),
        expect.stringMatching(/^inv\.yaml: accounts\.0\.apiTokens\.0\.kind: /),
        expect.stringMatching(/^inv\.yaml: accounts\.0\.apiTokens\.0\.secretFrom: /),
        expect.stringMatching(/^inv\.yaml: accounts\.0\.serviceTokens\.0\.strategy: /),
        expect.stringMatching(/^inv\.yaml: accounts\.0\.serviceTokens\.0\.overlap: must be a positive duration/),
      ]),
    );
    expect(lines.join('\n')).not.toMatch(/\n\s+at /);
    expect(lines.join('\n')).not.toContain('plaintext-secret');
  });

  it('says which variable is missing and which YAML is broken', () => {
    expect(problems(() => parseInventory(`# \${IN_A_COMMENT} is fine\n${valid}`, 'inv.yaml', {}))).toEqual([
      'inv.yaml: accounts.0.id: environment variable ACCOUNT is not set',
    ]);
    expect(problems(() => parseInventory('accounts: [\n', 'inv.yaml'))[0]).toMatch(/^inv\.yaml: not valid YAML: /);
  });

  it('rejects two service tokens of one name in one account', () => {
    const twice = `accounts:\n  - id: a\n    serviceTokens:\n      - { name: ci }\n      - { name: ci }\n`;
    expect(problems(() => parseInventory(twice, 'inv.yaml'))).toEqual([
      'inv.yaml: accounts.0.serviceTokens.1.name: duplicate service token "ci" in account a',
    ]);
  });
});

describe('environment', () => {
  it('applies defaults and rejects a bad port', () => {
    expect(parseEnvironment({})).toMatchObject({
      PORT: 3000,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_TASK_QUEUE: 'token-warden',
    });
    expect(problems(() => parseEnvironment({ PORT: 'eighty' }))).toEqual([
      expect.stringMatching(/^environment: PORT: /),
    ]);
  });

  it('budgets Cloudflare requests, leaving a quarter of the allowance to the people sharing the user', () => {
    expect(parseEnvironment({})).toMatchObject({
      CLOUDFLARE_REQUESTS_PER_5_MIN: 900,
      CLOUDFLARE_BUDGET_WINDOW_SECONDS: 300,
    });
    expect(parseEnvironment({ CLOUDFLARE_REQUESTS_PER_5_MIN: '1100' }).CLOUDFLARE_REQUESTS_PER_5_MIN).toBe(1100);
  });

  it('refuses to start on the old activity budget, naming its replacement', () => {
    expect(problems(() => parseEnvironment({ CLOUDFLARE_ACTIVITIES_PER_SECOND: '3' }))).toEqual([
      expect.stringMatching(
        /^environment: CLOUDFLARE_ACTIVITIES_PER_SECOND: replaced by CLOUDFLARE_REQUESTS_PER_5_MIN/,
      ),
    ]);
  });
});

describe('shipped inventories', () => {
  const root = path.resolve(__dirname, '../..');

  it('token-warden.example.yaml is valid and validates every target kind', () => {
    const text = readFileSync(path.join(root, 'token-warden.example.yaml'), 'utf8');
    const inventory = parseInventory(text, 'token-warden.example.yaml', {
      CLOUDFLARE_ACCOUNT_ID: 'acc',
      SECRETS_STORE_ID: 'store',
    });
    const kinds = inventory.accounts.flatMap((a) =>
      a.serviceTokens.flatMap((t) => t.targets.map((target) => target.kind)),
    );
    expect(new Set(kinds)).toEqual(new Set(['file', 'kubernetes', 'github', 'workers-secret', 'secrets-store']));
  });

  it('the demo inventory of simulation mode is valid', () => {
    const text = readFileSync(path.join(root, 'config/demo.inventory.yaml'), 'utf8');
    const vars = {
      CLOUDFLARE_ACCOUNT_ID: 'a',
      DEMO_ZONE_ID: 'z',
      DEMO_SECRETS_STORE_ID: 's',
      DEMO_WORKER_SCRIPT: 'w',
      DEMO_PROBE_URL: 'http://127.0.0.1:1/probe',
      DATA_DIR: '/tmp/x',
    };
    expect(parseInventory(text, 'demo', vars).accounts[0]!.serviceTokens.map((t) => t.name)).toEqual([
      'ci-deploy',
      'backup-job',
      'legacy-zone-probe',
    ]);
  });

  it('rejects a zone-scoped token with rotate-secret, and a github target with two scopes', () => {
    const bad = `accounts:\n  - id: a\n    serviceTokens:\n      - name: z\n        zoneId: zone1\n        targets:\n          - { kind: github, owner: o, repo: r, org: o }\n`;
    const lines = problems(() => parseInventory(bad, 'inv.yaml'));
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/serviceTokens\.0\.strategy: zone-scoped/),
        expect.stringMatching(/serviceTokens\.0\.targets\.0/),
      ]),
    );
  });
});

describe('rotate: of an API token', () => {
  const withRotate = (rotate: string) =>
    `accounts:\n  - id: a\n    apiTokens:\n      - name: bot\n        kind: user\n        secretFrom: { env: BOT }\n        rotate:\n${rotate}`;

  it('defaults to a successor whose stores use the API-token key names, keeping names a target gives', () => {
    const inventory = parseInventory(
      withRotate(
        `          targets:\n            - { kind: file, path: /tmp/bot.env }\n            - { kind: kubernetes, namespace: n, name: s, keys: { clientId: ID, clientSecret: TOKEN } }\n`,
      ),
      'inv.yaml',
    );
    const rotate = inventory.accounts[0]!.apiTokens[0]!.rotate!;
    expect(rotate).toMatchObject({ strategy: 'successor', renewBefore: '720h', name: '{name}-{date}' });
    expect(rotate.targets[0]).toMatchObject({
      keys: { clientId: 'CLOUDFLARE_API_TOKEN_ID', clientSecret: 'CLOUDFLARE_API_TOKEN' },
    });
    expect(rotate.targets[1]).toMatchObject({ keys: { clientId: 'ID', clientSecret: 'TOKEN' } });
  });

  it('refuses an unknown strategy and a duration that is not one', () => {
    const lines = problems(() =>
      parseInventory(withRotate(`          strategy: swap\n          renewBefore: soon\n`), 'inv.yaml'),
    );
    expect(lines).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/apiTokens\.0\.rotate\.strategy/),
        expect.stringMatching(/apiTokens\.0\.rotate\.renewBefore/),
      ]),
    );
  });
});
