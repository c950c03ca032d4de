import { recordedSteps, startHarness, type Harness } from './rotation-harness';

/**
 * Issue 13: a service-token rotation's plan and its resolve come from one activity, on the run's
 * lane of the request budget: one answer for the workflow to wait on. A plan that fails there
 * (Postgres away) is asked for alone, and Cloudflare is not read again for it.
 */
describe('a rotation plans and resolves in one call, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it.concurrent('plans and resolves side by side, on the lane, then issues', async () => {
    const run = await harness.run({ strategy: 'rotate-secret' });

    expect(run.result).toMatchObject({ status: 'completed' });
    const first = run.calls.slice(0, 2);
    expect(first.map((c) => c.name).sort()).toEqual(['planRotation', 'resolveServiceToken']);
    expect(first.every((c) => c.queue === 'cloudflare' && c.lane === 'interactive')).toBe(true);
    expect(recordedSteps(run)[0]).toBe('resolve:ok');
  });
  // A plan that fails beside resolve (Postgres away) is asked for alone, with one Cloudflare read:
  // history-beside.workflow.test.ts, the revoke that reaches a run still waiting for Postgres to plan.
});
