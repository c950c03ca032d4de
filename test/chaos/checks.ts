import { readFileSync } from 'node:fs';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { z } from 'zod';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import type { PendingSecretStore } from '../../src/secrets/pending-secrets';
import { fingerprintCredential, type ServiceTokenCredential } from '../../src/stores';
import { progressQuery, type RotationProgress } from '../../src/workflows/rotation/rotate-service-token';
import type { ConsumerEvent } from './consumer-protocol';
import { readFileCredential, type ChaosWorld } from './world';
import { emergencyTaskQueue } from '../../src/workflows/triggers';
import { checkApiTokens } from './api-token-checks';

export type RunOutcome = 'completed' | 'compensated' | 'failed' | 'stuck';

export interface RunRecord {
  token: string;
  workflowId: string;
  runId: string;
  /** What started it: the API's rotate or revoke route, in the chaos phase or the settle phase. */
  trigger: 'rotate' | 'revoke' | 'settle';
  startedAt: number;
  endedAt?: number;
  outcome?: RunOutcome;
  failureType?: string;
  reason?: string;
  /** Compensations that ran (a compensated run). */
  compensated?: string[];
  /** Compensations skipped because a store may still hold the new credential, and those that failed. */
  keptValid?: string[];
  failedCompensations?: string[];
  strategy?: string;
  recoveredLostSecret?: boolean;
  emergency?: boolean;
  /** Started by an attempt whose answer an outage lost (found by the retry, or among Temporal's runs at the end). */
  answerLost?: boolean;
}

/** From a revoke request until a run of that token has completed after it. */
export interface EmergencyWindow {
  token: string;
  from: number;
  to: number | null;
  /** The run the revoke signalled or started; null once it ended without completing. */
  runId: string | null;
}

export type ConsumerFailure = Extract<ConsumerEvent, { type: 'failure' }>;

export interface TokenFinal {
  name: string;
  strategy: string;
  /** Tokens of this name in Cloudflare (1 is right; more are orphans). */
  tokens: number;
  /** Credentials Cloudflare accepts for this name: current secrets and previous ones in their overlap. */
  liveCredentials: number;
  /** Stores holding the live token's current secret, of all stores. */
  storesAgreeing: number;
  stores: number;
  /** Staged secrets of runs that never promoted them (rotate-secret compensations keep theirs). */
  pendingLeftovers: number;
}

export interface HistoryFigures {
  temporalRuns: number;
  rows: number;
  stepRows: number;
  auditRows: number;
}

export interface FinalChecks {
  tokens: TokenFinal[];
  history: HistoryFigures;
  consumerFailures: number;
  excusedFailures: number;
  violations: string[];
}

export interface CheckInputs {
  sim: RunningSimulator;
  world: ChaosWorld;
  pool: Pool;
  pending: Pick<PendingSecretStore, 'current'>;
  client: Client;
  taskQueue: string;
  runs: RunRecord[];
  failures: ConsumerFailure[];
  windows: EmergencyWindow[];
  /** How long after a window closes the consumer may still report what it read inside it. */
  graceMs: number;
}

async function probe(url: string, credential: ServiceTokenCredential): Promise<number> {
  const response = await fetch(url, {
    headers: { 'CF-Access-Client-Id': credential.clientId, 'CF-Access-Client-Secret': credential.clientSecret },
  });
  await response.body?.cancel();
  return response.status;
}

const serviceTokenRule = z.object({ service_token: z.object({ token_id: z.string() }) });
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join() === [...b].sort().join();

/** Every invariant of DESIGN.md §5 that the end of a chaos run can show; each breach is a line. */
export async function runFinalChecks(input: CheckInputs): Promise<FinalChecks> {
  const violations: string[] = [];
  const { sim, world } = input;
  const scope = { kind: 'account' as const, accountId: world.accountId };
  const now = sim.clock.now();

  // 1. The consumer: never a refused credential in a store, except inside an emergency revoke.
  const excused = (f: ConsumerFailure) =>
    input.windows.some(
      (w) => w.token === f.token && f.at >= w.from && f.at <= (w.to ?? Number.POSITIVE_INFINITY) + input.graceMs,
    );
  const unexcused = input.failures.filter((f) => !excused(f));
  for (const f of unexcused.slice(0, 10)) {
    violations.push(
      `consumer: ${f.token} ${f.kind} at ${new Date(f.at).toISOString()} (${f.file}; status ${f.status ?? '-'}, ${f.reason ?? 'no reason'}, ${f.fingerprint ?? 'no credential'})`,
    );
  }
  if (unexcused.length > 10)
    violations.push(`consumer: ${unexcused.length - 10} more failures outside emergency windows`);

  // 2. Every run ended: completed, compensated, failed before retire keeping what a store may
  // hold valid (RotationFailed), or, under an emergency revoke, failed having ended the
  // compromised credential anyway (EmergencyRevokeIncomplete). Anything else (a failure after
  // retire, an unexpected error) is a bug.
  const revokedDuring = (run: RunRecord) =>
    input.windows.some(
      (w) =>
        w.token === run.token &&
        w.from <= (run.endedAt ?? Date.now()) &&
        (w.to ?? Number.POSITIVE_INFINITY) >= run.startedAt,
    );
  for (const run of input.runs) {
    if (run.outcome === 'stuck' || run.outcome === undefined)
      violations.push(`run ${run.workflowId} ${run.runId} (${run.trigger}) never finished`);
    const expected =
      run.failureType === 'RotationFailed' || (run.failureType === 'EmergencyRevokeIncomplete' && revokedDuring(run));
    if (run.outcome === 'failed' && !expected)
      violations.push(`run ${run.workflowId} ${run.runId} failed: ${run.failureType ?? '?'}: ${run.reason ?? ''}`);
  }

  // 3. Per token: one live credential, no orphans, every store holding it, token-warden knowing it.
  const tokens: TokenFinal[] = [];
  const liveIds = new Map<string, string>();
  for (const token of world.tokens) {
    const namesakes = sim.state.serviceTokens.list(scope).filter((t) => t.name === token.name);
    const liveCredentials = namesakes.reduce((sum, t) => {
      const unexpired = t.enabled && (t.expires_at === null || Date.parse(t.expires_at) > now);
      const previous =
        t.previousSecretHash !== null &&
        t.previous_client_secret_expires_at !== null &&
        Date.parse(t.previous_client_secret_expires_at) > now;
      return sum + (unexpired ? 1 + (previous ? 1 : 0) : 0);
    }, 0);
    if (namesakes.length !== 1)
      violations.push(
        `${token.name}: ${namesakes.length} tokens of this name in Cloudflare (${namesakes.length - 1} orphans)`,
      );
    if (liveCredentials !== 1)
      violations.push(`${token.name}: ${liveCredentials} live credentials once overlaps end (want exactly 1)`);
    const live = namesakes.length === 1 ? namesakes[0] : undefined;
    if (live) liveIds.set(token.name, live.id);

    let agreeing = 0;
    let stores = 0;
    const held: ServiceTokenCredential[] = [];
    for (const file of token.files) {
      stores += 1;
      const credential = readFileCredential(file.realPath);
      if (!credential) {
        violations.push(`${token.name}: ${file.realPath} holds no credential`);
        continue;
      }
      held.push(credential);
      const check = sim.state.serviceTokens.checkCredential(credential.clientId, credential.clientSecret);
      const status = await probe(world.probeUrl, credential);
      if (check.ok && check.secret === 'current' && check.token.id === live?.id && status === 200) agreeing += 1;
      else
        violations.push(
          `${token.name}: ${file.realPath} holds ${fingerprintCredential(credential)}, which Cloudflare ${check.ok ? `knows as the ${check.secret} secret of ${check.token.id}` : `refuses (${check.reason})`}; probe ${status}`,
        );
    }
    const reference = held[0];
    if (held.some((c) => reference && (c.clientId !== reference.clientId || c.clientSecret !== reference.clientSecret)))
      violations.push(`${token.name}: the file stores disagree`);
    if (token.workersSecret) {
      stores += 1;
      const { script, names } = token.workersSecret;
      const matches =
        reference !== undefined &&
        sim.state.workerSecretMatches({
          accountId: world.accountId,
          scriptName: script,
          name: names.clientId,
          value: reference.clientId,
        }) &&
        sim.state.workerSecretMatches({
          accountId: world.accountId,
          scriptName: script,
          name: names.clientSecret,
          value: reference.clientSecret,
        });
      if (matches) agreeing += 1;
      else violations.push(`${token.name}: Workers secrets of ${script} do not hold the live credential`);
    }
    if (token.secretsStore) {
      stores += 1;
      const { storeId, names } = token.secretsStore;
      const matches =
        reference !== undefined &&
        sim.state.secretsStoreSecretMatches({ storeId, name: names.clientId, value: reference.clientId }) &&
        sim.state.secretsStoreSecretMatches({ storeId, name: names.clientSecret, value: reference.clientSecret });
      if (matches) agreeing += 1;
      else violations.push(`${token.name}: Secrets Store ${storeId} does not hold the live credential`);
    }
    const current = await input.pending.current({ accountId: world.accountId, tokenName: token.name });
    if (reference && current?.fingerprint !== fingerprintCredential(reference))
      violations.push(
        `${token.name}: token-warden's current credential (${current?.fingerprint ?? 'none'}) is not what the stores hold (${fingerprintCredential(reference)})`,
      );
    const { rows } = await input.pool.query(
      `SELECT count(*)::int AS n FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'pending'`,
      [world.accountId, token.name],
    );
    tokens.push({
      name: token.name,
      strategy: token.strategy,
      tokens: namesakes.length,
      liveCredentials,
      storesAgreeing: agreeing,
      stores,
      pendingLeftovers: Number(rows[0]?.n ?? 0),
    });
  }

  tokens.push(...(await checkApiTokens(input, violations)));

  // 4. Access policies name exactly the live token of every managed name they named at the start.
  for (const policy of world.policies) {
    const record = sim.state.store.data.accessPolicies[policy.id];
    if (!record) {
      violations.push(`policy ${policy.name} is gone`);
      continue;
    }
    const named = [...record.include, ...record.require, ...record.exclude]
      .map((rule) => serviceTokenRule.safeParse(rule).data?.service_token.token_id)
      .filter((id): id is string => id !== undefined);
    const expected = policy.tokens.map((name) => liveIds.get(name)).filter((id): id is string => id !== undefined);
    if (!sameSet(named, expected))
      violations.push(
        `policy ${policy.name} names ${named.length} tokens (${named.filter((id) => !expected.includes(id)).length} not live); want exactly the ${expected.length} live ones`,
      );
  }

  // 5. History: every Temporal run of these queues has its row, its status and every step; its audit row.
  const temporalRuns: Array<{ workflowId: string; runId: string; status: string }> = [];
  // Emergency revokes that start a run run on the emergency queue beside the main one.
  const queues = `(TaskQueue = '${input.taskQueue}' OR TaskQueue = '${emergencyTaskQueue(input.taskQueue)}')`;
  for await (const execution of input.client.workflow.list({
    query: `${queues} AND WorkflowType IN ('rotateServiceToken', 'rotateApiToken')`,
  })) {
    temporalRuns.push({ workflowId: execution.workflowId, runId: execution.runId, status: execution.status.name });
  }
  const known = new Set(temporalRuns.map((r) => r.runId));
  for (const run of input.runs)
    if (!known.has(run.runId)) violations.push(`history: Temporal does not list run ${run.runId} of ${run.workflowId}`);
  const rows = new Map<string, { status: string; workflow_id: string }>();
  for (const row of (
    await input.pool.query(`SELECT run_id, status, workflow_id FROM rotations WHERE account_id = $1`, [world.accountId])
  ).rows)
    rows.set(row.run_id, row);
  const stepRows = new Map<string, Array<{ seq: number; step: string; outcome: string }>>();
  let stepCount = 0;
  for (const row of (
    await input.pool.query(
      `SELECT s.run_id, s.seq, s.step, s.outcome FROM rotation_steps s JOIN rotations r USING (run_id) WHERE r.account_id = $1 ORDER BY s.run_id, s.seq`,
      [world.accountId],
    )
  ).rows) {
    stepCount += 1;
    const list = stepRows.get(row.run_id) ?? [];
    list.push({ seq: row.seq, step: row.step, outcome: row.outcome });
    stepRows.set(row.run_id, list);
  }
  const audit = new Map<string, number>();
  let auditCount = 0;
  for (const row of (
    await input.pool.query(
      `SELECT run_id, count(*)::int AS n FROM audit_events WHERE run_id = ANY($1) AND action LIKE 'rotate.%' GROUP BY run_id`,
      [[...known]],
    )
  ).rows) {
    audit.set(row.run_id, row.n);
    auditCount += row.n;
  }
  // Each query replays a closed run on the worker: a few at a time.
  const progressOf = new Map<string, Promise<RotationProgress>>();
  const queue = temporalRuns.filter((run) => run.status === 'COMPLETED' || run.status === 'FAILED');
  const queryAll = async () => {
    for (let run = queue.shift(); run; run = queue.shift()) {
      const query = input.client.workflow.getHandle(run.workflowId, run.runId).query(progressQuery);
      progressOf.set(run.runId, query);
      await query.catch(() => undefined);
    }
  };
  await Promise.all(Array.from({ length: 8 }, queryAll));
  for (const run of temporalRuns) {
    const label = `history: ${run.workflowId} ${run.runId}`;
    if (run.status !== 'COMPLETED' && run.status !== 'FAILED') {
      violations.push(`${label} is ${run.status}`);
      continue;
    }
    const row = rows.get(run.runId);
    if (!row) {
      violations.push(`${label} has no rotations row`);
      continue;
    }
    const statusAgrees =
      run.status === 'COMPLETED' ? row.status === 'completed' : row.status === 'compensated' || row.status === 'failed';
    if (!statusAgrees) violations.push(`${label} is ${run.status} in Temporal but ${row.status} in Postgres`);
    if (audit.get(run.runId) !== 1) violations.push(`${label} has ${audit.get(run.runId) ?? 0} audit rows (want 1)`);
    let progress: RotationProgress;
    try {
      progress = await (progressOf.get(run.runId) ?? Promise.reject(new Error('not queried')));
    } catch (error) {
      // A replay that fails (workflow code changed under a running history) is a finding too.
      violations.push(`${label}: the progress query failed: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    const expected: Array<{ seq: number; step: string; outcome: string }> = progress.steps.map((s) => ({
      seq: s.seq,
      step: s.step,
      outcome: s.outcome,
    }));
    const recorded = stepRows.get(run.runId) ?? [];
    const describe = (steps: typeof expected) => steps.map((s) => `${s.seq}:${s.step}/${s.outcome}`).join(' ');
    if (describe(recorded) !== describe(expected))
      violations.push(
        `${label} steps in Postgres [${describe(recorded)}] differ from the workflow's [${describe(expected)}]`,
      );
    if (run.status === 'COMPLETED') checkCompletedShape(label, progress, violations);
  }
  for (const runId of rows.keys())
    if (!known.has(runId)) violations.push(`history: row ${runId} belongs to no Temporal run of this queue`);

  return {
    tokens,
    history: { temporalRuns: temporalRuns.length, rows: rows.size, stepRows: stepCount, auditRows: auditCount },
    consumerFailures: input.failures.length,
    excusedFailures: input.failures.length - unexcused.length,
    violations,
  };
}

/** A completed run went through every step of §4, in order. */
function checkCompletedShape(label: string, progress: RotationProgress, violations: string[]): void {
  const ok = progress.steps.filter((s) => s.outcome === 'ok').map((s) => s.step);
  const order = ['resolve', 'issue', 'propagate', 'verify', 'wait', 'retire', 'finish'];
  let at = -1;
  for (const step of order) {
    const found = ok.indexOf(step, at + 1);
    if (found < 0) {
      violations.push(`${label} completed without an ok '${step}' step after the previous ones (${ok.join(', ')})`);
      return;
    }
    at = found;
  }
}

export interface SecretScanInputs {
  client: Client;
  pool: Pool;
  accountId: string;
  runs: Array<Pick<RunRecord, 'workflowId' | 'runId'>>;
  /** Files to scan: the worker's and the consumer's logs. */
  logs: string[];
  /** Every client secret the run saw (created, and read from the stores along the way). */
  secrets: ReadonlySet<string>;
}

/**
 * Invariant 4 under chaos: no secret in plaintext in Temporal's history (raw, before any codec),
 * the processes' logs, or the history and audit rows. Reports where, with a fingerprint.
 */
export async function scanForPlaintextSecrets(
  input: SecretScanInputs,
): Promise<{ places: number; violations: string[] }> {
  const secrets = [...input.secrets].filter((s) => s.length >= 16);
  const violations: string[] = [];
  const look = (where: string, haystack: Buffer | string) => {
    for (const secret of secrets)
      if (haystack.includes(secret))
        violations.push(
          `secret in plaintext in ${where} (${fingerprintCredential({ clientId: '', clientSecret: secret })})`,
        );
  };
  let places = 0;
  for (const file of input.logs) {
    places += 1;
    look(`log ${file}`, readFileSync(file));
  }
  const rows = await input.pool.query(
    `SELECT 'rotations' AS t, outcome::text AS body FROM rotations WHERE account_id = $1
     UNION ALL SELECT 'rotation_steps', s.details::text FROM rotation_steps s JOIN rotations r USING (run_id) WHERE r.account_id = $1
     UNION ALL SELECT 'audit_events', details::text FROM audit_events`,
    [input.accountId],
  );
  places += 3;
  look('the history and audit tables', rows.rows.map((r) => String(r.body)).join('\n'));
  for (const run of input.runs) {
    places += 1;
    const history = await input.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory();
    look(
      `the Temporal history of ${run.workflowId} ${run.runId}`,
      Buffer.from(temporal.api.history.v1.History.encode(history).finish()),
    );
  }
  return { places, violations };
}
