import { superviseWorkers, WorkerFailedError, type SupervisedWorker } from '../../src/runtime/workers';

/** A worker whose run the test ends: a shutdown, a crash, or a stop nobody asked for. */
class StandInWorker implements SupervisedWorker {
  state = 'INITIALIZED';
  shutdowns = 0;
  private end: (error?: unknown) => void = () => undefined;

  run(): Promise<void> {
    this.state = 'RUNNING';
    return new Promise<void>((resolve, reject) => {
      this.end = (error) => {
        this.state = error ? 'FAILED' : 'STOPPED';
        if (error) reject(error);
        else resolve();
      };
    });
  }
  shutdown(): void {
    if (this.state !== 'RUNNING') throw new Error('not running');
    this.shutdowns += 1;
    this.end();
  }
  getState(): string {
    return this.state;
  }
  crash(error: Error): void {
    this.end(error);
  }
  stopUnasked(): void {
    this.end();
  }
}

function aProcess() {
  const workers = { main: new StandInWorker(), emergency: new StandInWorker(), cloudflare: new StandInWorker() };
  const lines: Array<{ taskQueue: string; message: string }> = [];
  let closed = 0;
  const running = superviseWorkers(
    Object.entries(workers).map(([taskQueue, worker]) => ({ taskQueue, worker })),
    {
      logger: {
        error: (details: { taskQueue: string }, message: string) =>
          void lines.push({ taskQueue: details.taskQueue, message }),
      } as never,
      onStopped: async () => void closed++,
    },
  );
  return { workers, lines, running, closed: () => closed };
}

/** Item 5 of issue 11: a worker that fails stops the process (so Kubernetes restarts it), with a clear log line. */
describe('the workers of one process, supervised together', () => {
  it('stops every other worker and fails the process, naming the queue, when one worker fails', async () => {
    const { workers, lines, running, closed } = aProcess();
    workers.cloudflare.crash(new Error('poll failed: PermissionDenied'));

    const failure = await running.done.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(WorkerFailedError);
    expect((failure as WorkerFailedError).taskQueue).toBe('cloudflare');
    expect((failure as Error).message).toMatch(
      /task queue cloudflare failed: poll failed: PermissionDenied; every worker of this process has been stopped/,
    );
    expect([workers.main.getState(), workers.emergency.getState()]).toEqual(['STOPPED', 'STOPPED']);
    expect(lines).toEqual([{ taskQueue: 'cloudflare', message: (failure as Error).message }]);
    expect(closed()).toBe(1);
  });

  it('treats a worker that stops while nobody asked as a failure', async () => {
    const { workers, running } = aProcess();
    workers.emergency.stopUnasked();

    await expect(running.done).rejects.toMatchObject({ name: 'WorkerFailedError', taskQueue: 'emergency' });
    expect(workers.main.getState()).toBe('STOPPED');
  });

  it('ends quietly on a shutdown', async () => {
    const { workers, lines, running, closed } = aProcess();
    await running.shutdown();

    await expect(running.done).resolves.toBeUndefined();
    expect(Object.values(workers).map((w) => w.shutdowns)).toEqual([1, 1, 1]);
    expect(lines).toEqual([]);
    expect(closed()).toBe(1);
  });
});
