import { listApiTokens, type ApiTokenListingDeps } from '../../src/api/api-token-listing';
import { inventorySchema } from '../../src/config';

const ACCOUNT = 'a'.repeat(32);

/** listApiTokens over a fixed inventory and fake repositories: the cases the real stack does not make. */
describe('the API-token listing', () => {
  const inventory = inventorySchema.parse({
    accounts: [
      {
        id: ACCOUNT,
        apiTokens: [
          { name: 'checked-only', kind: 'account', secretFrom: { env: 'CHECKED' } },
          { name: 'rotated', kind: 'user', secretFrom: { env: 'ROTATED' }, rotate: { renewBefore: '48h' } },
        ],
      },
    ],
  });
  const deps = (results: unknown): ApiTokenListingDeps => ({
    inventory,
    rotations: { lastRotation: async () => undefined },
    history: {
      listApiTokenChecks: async () => [
        {
          runId: 'r',
          workflowId: 'w',
          kind: 'health',
          triggeredBy: 'test',
          overallHealth: 'healthy',
          autoHealAttempted: false,
          autoHealSuccess: null,
          results,
          checkedAt: new Date(),
        },
      ],
    },
  });
  const token = (name: string, extra: Record<string, unknown> = {}) => ({
    accountId: ACCOUNT,
    name,
    kind: name === 'rotated' ? 'user' : 'account',
    state: 'healthy',
    isValid: true,
    expiresOn: '2030-01-10T00:00:00Z',
    missingPermissions: [],
    fingerprint: 'sha256:0123456789abcdef',
    ...extra,
  });

  it('gives a token without rotate: neither settings nor a renewal date, only its health', async () => {
    const report = {
      runId: 'run-1',
      timestamp: '2030-01-01T00:00:00Z',
      tokens: [token('checked-only'), token('rotated')],
    };
    const [checked, rotated] = await listApiTokens(deps({ report }));
    expect(checked).toMatchObject({
      rotate: null,
      next_rotation_at: null,
      health: { expires_on: '2030-01-10T00:00:00Z' },
    });
    expect(rotated).toMatchObject({ rotate: { strategy: 'successor', renew_before: '48h' } });
    expect(rotated!.next_rotation_at).toBe('2030-01-08T00:00:00.000Z');
    expect(JSON.stringify([checked, rotated])).not.toContain('sha256:');
  });

  it('answers without health, not with an error, for a row it cannot read or a token the check did not see', async () => {
    for (const results of [{ summary: 'written by an older version' }, null, { report: { tokens: 'nope' } }]) {
      const listed = await listApiTokens(deps(results));
      expect(listed.map((t) => t.health)).toEqual([null, null]);
    }
    const report = { runId: 'run-1', timestamp: '2030-01-01T00:00:00Z', tokens: [token('rotated')] };
    const [checked, rotated] = await listApiTokens(deps({ report }));
    expect(checked!.health).toBeNull();
    expect(rotated!.health).toMatchObject({ run_id: 'run-1', missing_permissions_count: 0 });
  });

  it('keeps only the account asked for', async () => {
    expect(await listApiTokens(deps(null), { accountId: 'b'.repeat(32) })).toEqual([]);
    expect(await listApiTokens(deps(null), { accountId: ACCOUNT })).toHaveLength(2);
  });
});
