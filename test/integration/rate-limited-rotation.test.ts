import { rotationWorkflowId } from '../../src/inventory';
import type { RotationResult } from '../../src/workflows/rotation/rotate-service-token';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

/** Cloudflare blocks the user (an overrun by someone else) while rotations run. */
describe("rotations through Cloudflare's 429 block, on the real stack", () => {
  let f: RotationFixture;
  beforeAll(async () => {
    f = await startRotationFixture([
      { name: 'blocked-secret', strategy: 'rotate-secret' },
      { name: 'blocked-replace', strategy: 'replace' },
    ]);
  });
  afterAll(async () => f?.close());

  it('waits the block out and completes every rotation: nothing fails or compensates because of a 429', async () => {
    const warden = f.stack.sim.demo!.apiTokens.warden.value!;
    // A 3-second window, overrun by a colleague's script: every call of the user gets 429
    // with Retry-After until the block ends.
    f.stack.sim.rateLimit.configure({ windowSeconds: 3 });
    expect(f.stack.sim.rateLimit.spend({ tokenValue: warden }, 1_201).blockStarted).toBe(true);
    const refused: string[] = [];
    const stop = f.stack.sim.calls.onRequest((event) => {
      if (event.rateLimited && !event.outside) refused.push(event.operationId);
    });
    try {
      const started = await Promise.all(
        ['blocked-secret', 'blocked-replace'].map((name) =>
          f.stack.client.workflow.start('rotateServiceToken', {
            taskQueue: f.stack.taskQueue,
            workflowId: rotationWorkflowId(f.accountId, name),
            args: [{ accountId: f.accountId, tokenName: name, mode: 'manual', trigger: { actor: 'api:test-client' } }],
          }),
        ),
      );
      const results = (await Promise.all(started.map((handle) => handle.result()))) as RotationResult[];
      expect(results.map((r) => r.status)).toEqual(['completed', 'completed']);
      // Cloudflare did refuse them, once per worker before the block was shared.
      expect(refused.length).toBeGreaterThan(0);
      const rows = await f.stack.rotations.listRotations({ limit: 10 });
      expect(
        rows
          .filter((r) => r.tokenName.startsWith('blocked-'))
          .map((r) => r.status)
          .sort(),
      ).toEqual(['completed', 'completed']);
      for (const name of ['blocked-secret', 'blocked-replace']) expect(await f.probe(f.fileCredential(name))).toBe(200);
    } finally {
      stop();
      f.stack.sim.rateLimit.configure({ windowSeconds: 300 });
    }
  });
});
