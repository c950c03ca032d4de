import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

/**
 * Issue 16 item 2 on the real stack (Temporal dev server, Postgres, the Cloudflare simulator over
 * HTTP through the `cloudflare` SDK): a replace retires the old token once Cloudflare's
 * `last_seen_at` shows a consumer used the new one after propagation, the configured wait its
 * bound; the simulator's probe app updates `last_seen_at` of the token it accepts, as Cloudflare does.
 */
describe('a replace retires on evidence that the new token is used, on the real stack', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([
      { name: 'seen', strategy: 'replace', stores: 'file', propagationWait: '20s' },
      { name: 'unseen', strategy: 'replace', stores: 'file', propagationWait: '3s' },
    ]);
  });
  afterAll(async () => f?.close());

  const stepOf = async (name: string, step: string) => {
    const [row] = await f.stack.rotations.listRotations({ tokenName: name, limit: 1 });
    return row!.steps.find((s) => s.step === step)!;
  };
  const tokenGets = () =>
    Object.values(f.stack.sim.calls.counts()['access-service-tokens-get-a-service-token'] ?? {}).reduce(
      (a, b) => a + b,
      0,
    );

  it('retires once a consumer has used the new token after propagation, before the wait runs out', async () => {
    const old = f.tokens['seen']!;
    f.stack.sim.calls.reset();
    const handle = await f.startRotation('seen');
    const deadline = Date.now() + 30_000;
    while ((await handle.query<{ phase: string }>('progress')).phase !== 'wait' && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    // A consumer picks the new credential up from its store and uses it (the probe app stands in
    // for the Access-protected application).
    await new Promise((r) => setTimeout(r, 500));
    const fresh = f.fileCredential('seen');
    expect(fresh.clientId).not.toBe(old.clientId);
    expect(await f.probe(fresh)).toBe(200);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', strategy: 'replace' });

    const lastSeenAt = String(f.stack.sim.state.getServiceToken(result.tokenId)!.last_seen_at);
    const wait = await stepOf('seen', 'wait');
    const retire = await stepOf('seen', 'retire');
    const details = wait.details as { evidence: string; propagatedAt: string; lastSeenAt: string; note: string };
    expect(details).toMatchObject({
      evidence: 'seen',
      lastSeenAt,
      note: `new token seen by a consumer at ${lastSeenAt}`,
    });
    // retire > last_seen_at > end of propagation
    expect(Date.parse(retire.startedAt)).toBeGreaterThan(Date.parse(lastSeenAt));
    expect(Date.parse(lastSeenAt)).toBeGreaterThan(Date.parse(details.propagatedAt));
    expect(Date.parse(details.propagatedAt)).toBeGreaterThanOrEqual(
      Date.parse((await stepOf('seen', 'verify')).startedAt),
    );
    // The evidence, not the 20 s timer, ended the wait.
    expect(Date.parse(retire.startedAt) - Date.parse(wait.startedAt)).toBeLessThan(20_000);
    expect(f.stack.sim.state.getServiceToken(old.id)).toBeUndefined();
    // One GET: the first read, a quarter of the wait (5 s) in, already saw the consumer.
    expect(tokenGets()).toBe(1);
  });

  it('retires on the timer when no consumer uses the new token, and says so', async () => {
    const old = f.tokens['unseen']!;
    f.stack.sim.calls.reset();
    const handle = await f.startRotation('unseen');
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', strategy: 'replace' });
    const wait = await stepOf('unseen', 'wait');
    const retire = await stepOf('unseen', 'retire');
    const details = wait.details as { evidence: string; waitedMs: number; lastSeenAt: string | null; note: string };
    // Verify's probe used the new token, but before propagation ended: that is not a consumer.
    const probedAt = f.stack.sim.state.getServiceToken(result.tokenId)!.last_seen_at;
    expect(probedAt).not.toBeNull();
    expect(details).toMatchObject({
      evidence: 'not-seen',
      lastSeenAt: probedAt,
      note: 'not seen within the wait; retiring on the timer',
    });
    expect(details.waitedMs).toBeGreaterThanOrEqual(3_000);
    expect(Date.parse(retire.startedAt) - Date.parse(wait.startedAt)).toBeGreaterThanOrEqual(3_000);
    expect(f.stack.sim.state.getServiceToken(old.id)).toBeUndefined();
    // One GET: the first read 1 s in (a quarter of 3 s, at least 1 s); the next, 2 s later, would
    // come as the wait ends, so it is not sent.
    expect(tokenGets()).toBe(1);
  });
});
