import { inputsOf, recordedStep, startHarness, TARGETS, type Harness } from './rotation-harness';

/**
 * Issue 13: a store on this side of the network (a file, Kubernetes, GitHub) reads back in its
 * write's activity, so verify needs no round trip of its own for it. A Cloudflare-hosted store is
 * still read back on its own (a request on its lane), and one whose read-back does not confirm in
 * the write is asked again by verify, retried until it does.
 */
describe('rotation read-backs inside the write, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  const [local, cloudflareHosted] = TARGETS;

  it.concurrent('verifies a local store from its write, a Cloudflare-hosted one with a read of its own', async () => {
    const run = await harness.run({ strategy: 'rotate-secret' });

    expect(run.result).toMatchObject({ status: 'completed' });
    const writes = inputsOf(run, 'propagateToStore');
    expect(writes.find((w) => w.targetIndex === local!.index)).toMatchObject({ readBack: true });
    expect(writes.find((w) => w.targetIndex === cloudflareHosted!.index)).not.toHaveProperty('readBack');
    expect(inputsOf(run, 'verifyStore').map((v) => v.targetIndex)).toEqual([cloudflareHosted!.index]);
    // The verify step shows both stores' evidence, as before.
    expect(recordedStep(run, 'verify')).toMatchObject({
      outcome: 'ok',
      details: { stores: [expect.objectContaining({ evidence: 'fingerprint' }), expect.anything()] },
    });
  });

  it.concurrent('asks verify for a local store whose read-back in the write did not confirm', async () => {
    const run = await harness.run({
      strategy: 'rotate-secret',
      stubs: {
        propagateToStore: async (i) => ({
          store: TARGETS[i.targetIndex]!.label,
          fingerprint: 'sha256:new',
          changed: true,
          expected: { evidence: 'fingerprint' as const, fingerprint: 'sha256:new' },
        }),
      },
    });

    expect(run.result).toMatchObject({ status: 'completed' });
    expect(
      inputsOf(run, 'verifyStore')
        .map((v) => v.targetIndex)
        .sort(),
    ).toEqual([0, 1]);
    expect(inputsOf(run, 'verifyStore').every((v) => !('readBack' in v.receipt))).toBe(true);
  });
});
