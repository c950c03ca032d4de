import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { DefaultLogger, makeTelemetryFilterString, Runtime, Worker, type ReplayResult } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import * as workflows from '../../src/workflows';
import { createDataConverter } from '../../src/temporal/data-converter';
import { REPLAY_FIXTURE_KEYS } from './fixture-keys';

/**
 * Runs in flight during a deploy resume on the new code by replaying their history, so a change
 * to a workflow must still replay what older code recorded (or branch with `patched()`).
 * The histories were recorded from the integration suites: `npm run histories:record`.
 */
const dir = path.join(__dirname, 'histories');
const workflowIds = JSON.parse(readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const recorded = readdirSync(dir)
  .filter((file) => file.endsWith('.binpb'))
  .sort()
  .map((file) => ({
    file,
    workflowType: file.replace(/-[0-9a-f]+\.binpb$/, ''),
    history: temporal.api.history.v1.History.decode(readFileSync(path.join(dir, file))),
  }));

async function replay(workflowsPath: string, only?: string): Promise<ReplayResult[]> {
  const histories = recorded
    .filter((r) => !only || r.workflowType === only)
    .map((r) => ({ workflowId: workflowIds[r.file] ?? r.file, history: r.history }));
  const results: ReplayResult[] = [];
  for await (const result of Worker.runReplayHistories(
    { workflowsPath, dataConverter: createDataConverter(REPLAY_FIXTURE_KEYS) },
    histories,
  )) {
    results.push({
      ...result,
      workflowId: recorded.find((r) => workflowIds[r.file] === result.workflowId)?.file ?? result.workflowId,
    });
  }
  return results;
}

describe('replaying recorded histories on the current workflow code', () => {
  beforeAll(() => {
    // Replay failures are the subject here; the SDK logging each one again is noise.
    Runtime.install({
      logger: new DefaultLogger('ERROR', () => undefined),
      telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: 'ERROR' }) } },
    });
  });

  it('has a recorded history, and its workflow id, for every workflow the worker registers', () => {
    for (const { file } of recorded) expect(workflowIds).toHaveProperty([file]);
    expect(new Set(recorded.map((r) => r.workflowType))).toEqual(new Set(Object.keys(workflows)));
  });

  it('replays every one without a determinism violation', async () => {
    const results = await replay(require.resolve('../../src/workflows'));
    expect(results).toHaveLength(recorded.length);
    expect(results.filter((r) => r.error).map((r) => `${r.workflowId}: ${r.error?.message}`)).toEqual([]);
  }, 120_000);

  it('catches a change that would break runs in flight', async () => {
    const results = await replay(require.resolve('./changed-workflows'), 'rotateServiceToken');
    expect(results.length).toBeGreaterThan(0);
    for (const result of results) expect(result.error).toBeInstanceOf(DeterminismViolationError);
  }, 120_000);
});
