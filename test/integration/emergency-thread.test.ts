import { temporal } from '@temporalio/proto';
import { rotationWorkflowId } from '../../src/inventory';
import { emergencyTaskQueue } from '../../src/workflows/triggers';
import { spawnEmergencyThread } from '../../src/runtime/emergency-thread';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

const EventType = temporal.api.enums.v1.EventType;

/** Keeps this thread's event loop busy, as a fleet's activations and Cloudflare calls can. */
function blockThisThread(ms: number): number {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    // busy: nothing else runs on this thread meanwhile
  }
  return Date.now();
}

describe('the emergency worker in a thread of its own (as src/worker.ts runs it)', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([{ name: 'laptop', strategy: 'rotate-secret', stores: 'file' }], {
      emergencyThread: true,
    });
  });
  afterAll(async () => f?.close());

  it('warmed its worker up as it started: one warm-up run on the emergency queue, completed', async () => {
    const query = `WorkflowType = 'warmUpEmergencyWorker' AND TaskQueue = '${emergencyTaskQueue(f.stack.taskQueue)}'`;
    const statuses = async () => {
      const seen: string[] = [];
      for await (const run of f.stack.client.workflow.list({ query })) seen.push(run.status.name);
      return seen;
    };
    const deadline = Date.now() + 15_000;
    let seen = await statuses();
    while (seen[0] !== 'COMPLETED' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      seen = await statuses();
    }
    expect(seen).toEqual(['COMPLETED']);
  });

  it("a revoke's run gets going while the main thread is busy, and then kills the old secret", async () => {
    const app = await f.stack.app();
    const before = f.fileCredential('laptop');
    expect(await f.probe(before)).toBe(200);
    const response = await app.inject({
      method: 'POST',
      url: '/service-tokens/laptop/revoke',
      headers: f.stack.auth,
      payload: { reason: 'laptop stolen' },
    });
    expect(response.statusCode).toBe(202);
    // The simulator and the main worker share this thread: only the emergency thread can move now.
    const unblocked = blockThisThread(2_000);

    const workflowId = rotationWorkflowId(f.accountId, 'laptop');
    const result = await f.waitForRotation(workflowId);
    expect(result).toMatchObject({ emergency: true, strategy: 'rotate-secret' });
    const { events } = await f.stack.client.workflow.getHandle(workflowId).fetchHistory();
    const firstTaskDone = events?.find((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    const doneAt = Number(firstTaskDone?.eventTime?.seconds ?? 0) * 1000 + (firstTaskDone?.eventTime?.nanos ?? 0) / 1e6;
    // Its first workflow task (which schedules the kill) completed while this thread was blocked.
    expect(doneAt).toBeGreaterThan(0);
    expect(doneAt).toBeLessThan(unblocked - 500);

    expect(await f.probe(before)).toBe(403);
    const after = f.fileCredential('laptop');
    expect(after.clientSecret).not.toBe(before.clientSecret);
    expect(await f.probe(after)).toBe(200);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'laptop', limit: 1 });
    expect(row).toMatchObject({ mode: 'emergency', status: 'completed' });
  });

  it('a thread that cannot start says why, and is gone', async () => {
    const starting = spawnEmergencyThread().start({
      taskQueue: `${f.stack.taskQueue}-broken`,
      workflows: { workflowBundle: { code: '', sourceMap: '' } },
      attachment: {
        rawEnv: {},
        secretEnv: {},
        inventoryFile: '/nonexistent/token-warden.yaml',
        databaseUrl: 'postgres://127.0.0.1:1/none',
        temporal: { address: process.env.TEST_TEMPORAL_ADDRESS!, namespace: 'default' },
        cloudflare: { simulated: true, simulatorToken: 'unused' },
        keys: f.stack.keys,
      },
    });
    await expect(starting).rejects.toThrow(/nonexistent\/token-warden\.yaml/);
  });
});
