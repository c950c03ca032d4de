import { ConfigError, parseEnvironment, parseInventory } from '../../src/config';

function problems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

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
    expect(account.serviceTokens[0]).toMatchObject({ name: 'ci', strategy: 'replace', overlap: '10m', renewBefore: '720h', propagationWait: '30s' });
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
    expect(problems(() => parseInventory(valid, 'inv.yaml', {}))).toEqual(['inv.yaml: ${ACCOUNT}: environment variable ACCOUNT is not set']);
    expect(problems(() => parseInventory('accounts: [\n', 'inv.yaml'))[0]).toMatch(/^inv\.yaml: not valid YAML: /);
  });

  it('rejects two service tokens of one name in one account', () => {
    const twice = `accounts:\n  - id: a\n    serviceTokens:\n      - { name: ci }\n      - { name: ci }\n`;
    expect(problems(() => parseInventory(twice, 'inv.yaml'))).toEqual(['inv.yaml: accounts.0.serviceTokens.1.name: duplicate service token "ci" in account a']);
  });
});

describe('environment', () => {
  it('applies defaults and rejects a bad port', () => {
    expect(parseEnvironment({})).toMatchObject({ PORT: 3000, TEMPORAL_NAMESPACE: 'default', TEMPORAL_TASK_QUEUE: 'token-warden' });
    expect(problems(() => parseEnvironment({ PORT: 'eighty' }))).toEqual([expect.stringMatching(/^environment: PORT: /)]);
  });
});
