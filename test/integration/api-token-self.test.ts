import { apiTokenRotationWorkflowId, findApiToken } from '../../src/inventory';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';

/**
 * token-warden rotating the token it runs on (`self: true`): its workers read their Cloudflare
 * token from the file the rotation writes (CLOUDFLARE_API_TOKEN_FILE), so they switch without a
 * restart, and every outcome leaves them a working credential.
 */
describe("token-warden's own token, on the real stack", () => {
  const workflowId = (f: ApiTokenFixture, name: string) =>
    apiTokenRotationWorkflowId(findApiToken(f.stack.inventory, f.accountId, name)!);

  async function post(f: ApiTokenFixture, url: string) {
    const app = await f.stack.app();
    const response = await app.inject({ method: 'POST', url, headers: f.stack.auth, payload: { reason: 'test' } });
    expect(response.statusCode).toBe(202);
    return response;
  }

  /** A Cloudflare mutation only token-warden's own token can make: another token's rotation. */
  async function wardenStillWorks(f: ApiTokenFixture) {
    await post(f, '/api-tokens/deploy-bot/rotate');
    expect(await f.waitFor(workflowId(f, 'deploy-bot'))).toMatchObject({ status: 'completed' });
    expect(await f.verify('deploy-bot', f.fileValue('deploy-bot'))).toBe(200);
  }

  describe('rotated and revoked', () => {
    let f: ApiTokenFixture;
    beforeAll(async () => {
      f = await startApiTokenFixture([
        { name: 'warden', kind: 'user', self: true, stores: 'file' },
        { name: 'deploy-bot', kind: 'account', stores: 'file' },
      ]);
    });
    afterAll(async () => f?.close());

    it('switches the running workers to a successor, verifies that, then deletes the old token', async () => {
      const old = f.tokens.warden!;
      await post(f, '/api-tokens/warden/rotate');
      const result = await f.waitFor(workflowId(f, 'warden'));

      expect(result).toMatchObject({ status: 'completed', strategy: 'successor', emergency: false });
      expect(f.fileValue('warden')).not.toBe(old.value);
      expect(f.fileTokenId('warden')).toBe(result.tokenId);
      expect(f.stack.sim.state.apiTokens.get(old.id)).toBeUndefined();
      expect(await f.verify('warden', old.value)).not.toBe(200);
      expect(f.shape(result.tokenId)).toBeDefined();
      // Verify saw token-warden's own requests arrive on the successor before the old token went.
      const [row] = await f.stack.rotations.listRotations({ tokenName: 'warden', kind: 'api-token', limit: 1 });
      const steps = row!.steps.map((s) => s.step);
      expect(steps.indexOf('verify')).toBeLessThan(steps.indexOf('retire'));
      // The same workers, not restarted, go on working on the successor.
      await wardenStillWorks(f);
    });

    it('revokes it in an emergency without ever leaving token-warden without a working token', async () => {
      const compromised = f.fileValue('warden');
      const compromisedId = f.fileTokenId('warden');
      await post(f, '/api-tokens/warden/revoke');
      const result = await f.waitFor(workflowId(f, 'warden'));

      expect(result).toMatchObject({ status: 'completed', strategy: 'successor', emergency: true });
      expect(await f.verify('warden', compromised)).not.toBe(200);
      expect(f.stack.sim.state.apiTokens.get(compromisedId)).toBeUndefined();
      const [row] = await f.stack.rotations.listRotations({ tokenName: 'warden', kind: 'api-token', limit: 1 });
      expect(row!.mode).toBe('emergency');
      // Successor first (not a kill by roll, which would leave token-warden nothing to issue it with), no wait.
      expect(row!.steps.map((s) => s.step)).not.toContain('kill');
      const wait = row!.steps.find((s) => s.step === 'wait');
      expect(wait?.details?.cutShortBy).toBeTruthy();
      await wardenStillWorks(f);
    });
  });

  it('puts the old value back and deletes the successor when verification fails', async () => {
    // The inventory asks for a permission the token does not have: the successor, with the same
    // policies, lacks it too, which verify finds after the file already holds the successor.
    const f = await startApiTokenFixture([
      { name: 'warden', kind: 'user', self: true, stores: 'file', requires: ['API Tokens Write', 'D1 Write'] },
      { name: 'deploy-bot', kind: 'account', stores: 'file' },
    ]);
    try {
      const old = f.tokens.warden!;
      const tokensBefore = f.stack.sim.state.apiTokens.list({ kind: 'user' }).map((t) => t.id);
      await post(f, '/api-tokens/warden/rotate');
      await expect(f.waitFor(workflowId(f, 'warden'))).rejects.toMatchObject({
        cause: { type: 'RotationCompensated', message: expect.stringContaining('lacks D1 Write') },
      });
      const [row] = await f.stack.rotations.listRotations({ tokenName: 'warden', kind: 'api-token', limit: 1 });
      expect(row?.status).toBe('compensated');
      expect(f.fileValue('warden')).toBe(old.value);
      expect(f.fileTokenId('warden')).toBe(old.id);
      expect(await f.verify('warden', old.value)).toBe(200);
      expect(f.stack.sim.state.apiTokens.list({ kind: 'user' }).map((t) => t.id)).toEqual(tokensBefore);
      await wardenStillWorks(f);
    } finally {
      await f.close();
    }
  });
});
