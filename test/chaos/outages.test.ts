import { DEFAULT_INFRASTRUCTURE_FAULTS, planRestarts } from './infrastructure-faults';
import { OutageLog, rideOutOutages } from './outages';
import { ChaosRandom } from './random';

describe('chaos outages: what a failure may be blamed on', () => {
  it('blames a failure on an outage going on, or over for less than the grace, and on nothing later', () => {
    const outages = new OutageLog(1_000);
    const outage = outages.begin('postgres', 'fast');
    expect(outages.explaining(Date.now())).toBe(outage);
    outages.end(outage);
    expect(outages.explaining(Date.now() + 500)).toBe(outage);
    expect(outages.explaining(Date.now() + 1_500)).toBeUndefined();
    expect(outages.explaining(outage.from - 1)).toBeUndefined();
    const next = outages.begin('temporal', 'SIGTERM');
    expect(outages.explaining(Date.now())).toBe(next); // the latest, not one still in its grace
  });

  it("numbers each server's outages and wakes waiters when the last server is back", async () => {
    const outages = new OutageLog(1_000);
    const temporal = outages.begin('temporal', 'SIGKILL');
    const postgres = outages.begin('postgres', 'immediate');
    expect([temporal.number, postgres.number, outages.begin('temporal', 'SIGTERM').number]).toEqual([1, 1, 2]);
    let up = false;
    const waiting = outages.whenUp().then(() => (up = true));
    outages.end(temporal);
    outages.end(postgres);
    await Promise.resolve();
    expect(up).toBe(false); // the second Temporal outage is still going on
    outages.end(outages.outages[2]!);
    await waiting;
    expect(up).toBe(true);
  });

  it('makes whoever waits for a server that will not come back fail too', async () => {
    const outages = new OutageLog(1_000);
    outages.begin('temporal', 'SIGTERM');
    const waiting = outages.whenUp();
    outages.fail(new Error('the server did not come back'));
    await expect(waiting).rejects.toThrow('did not come back');
  });

  it('retries an attempt an outage broke once the server is back, and no other failure', async () => {
    const outages = new OutageLog(5_000);
    const outage = outages.begin('temporal', 'SIGTERM');
    let attempts = 0;
    const result = rideOutOutages(
      outages,
      async () => {
        attempts += 1;
        if (attempts === 1) throw new Error('UNAVAILABLE');
        return 'answered';
      },
      () => true,
    );
    setTimeout(() => outages.end(outage), 50);
    await expect(result).resolves.toBe('answered');
    expect(attempts).toBe(2);

    await expect(
      rideOutOutages(
        outages,
        () => Promise.reject(new Error('a real failure')),
        () => false,
      ),
    ).rejects.toThrow('a real failure');
    const calm = new OutageLog(5_000);
    await expect(
      rideOutOutages(
        calm,
        () => Promise.reject(new Error('UNAVAILABLE')),
        () => true,
      ),
    ).rejects.toThrow('UNAVAILABLE');
  });
});

describe('chaos infrastructure faults: the plan', () => {
  it('restarts each server as often as asked, a share of the restarts crashes, all inside the window, the same for a seed', () => {
    const options = { ...DEFAULT_INFRASTRUCTURE_FAULTS, temporalRestarts: 3, postgresRestarts: 2, crashShare: 0.5 };
    const plan = planRestarts(options, new ChaosRandom(7));
    expect(plan.filter((r) => r.service === 'temporal')).toHaveLength(3);
    expect(plan.filter((r) => r.service === 'postgres')).toHaveLength(2);
    expect(plan.filter((r) => r.service === 'temporal' && r.crash)).toHaveLength(2);
    expect(plan.filter((r) => r.service === 'postgres' && r.crash)).toHaveLength(1);
    for (const restart of plan) {
      expect(restart.atProgress).toBeGreaterThanOrEqual(options.progressWindow[0]);
      expect(restart.atProgress).toBeLessThanOrEqual(options.progressWindow[1]);
      expect(restart.downMs).toBeGreaterThanOrEqual(options.downMs[0]);
      expect(restart.downMs).toBeLessThanOrEqual(options.downMs[1]);
    }
    expect(plan.map((r) => r.atProgress)).toEqual([...plan.map((r) => r.atProgress)].sort((a, b) => a - b));
    expect(planRestarts(options, new ChaosRandom(7))).toEqual(plan);
  });
});
