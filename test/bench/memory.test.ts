import { kubernetesWorkerMemoryLimit, memoryNote, watchPeakMemory } from './memory';

describe('the fleet bench on worker memory', () => {
  it('reads the worker memory limit the Kubernetes manifest sets', () => {
    expect(kubernetesWorkerMemoryLimit()).toMatch(/^\d+(Mi|Gi)$/);
  });

  it("keeps a live process's peak resident memory, and 0 for one never seen", async () => {
    const watch = watchPeakMemory([{ pid: process.pid }, { pid: undefined }], 10);
    const ballast = Buffer.alloc(64 * 1024 * 1024, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const [own, none] = watch.stop();
    expect(ballast[0]).toBe(1);
    expect(own).toBeGreaterThanOrEqual(Math.round(process.memoryUsage().rss / 1024 / 1024) - 64);
    expect(own).toBeGreaterThan(64);
    expect(none).toBe(0);
  });

  it('says which build was measured, beside the limit', () => {
    const note = memoryNote([560, 571], true);
    expect(note).toContain('peak resident 560 MiB, 571 MiB (the production build from dist/)');
    expect(note).toContain(`limits a worker to ${kubernetesWorkerMemoryLimit()}`);
    expect(memoryNote([700], false)).toContain('src/ under tsx');
  });
});
