import type { Pool } from 'pg';
import { sleep } from './random';

/** Advisory lock keys of the staging gate (the chaos database's own). */
const STAGING_GATE = [0x43484153, 1] as const; // "CHAS"

/**
 * A gate in front of staging, in the chaos run's own database: every insert into
 * pending_secrets first takes a shared advisory lock, so while the engine holds it exclusively
 * a staging write waits (and nothing else does: promote and discard update and delete).
 */
export async function installStagingGate(pool: Pool): Promise<void> {
  await pool.query(`CREATE OR REPLACE FUNCTION chaos_staging_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${STAGING_GATE[0]}, ${STAGING_GATE[1]}); RETURN NEW; END $$`);
  await pool.query('DROP TRIGGER IF EXISTS chaos_staging_gate ON pending_secrets');
  await pool.query(
    'CREATE TRIGGER chaos_staging_gate BEFORE INSERT ON pending_secrets FOR EACH ROW EXECUTE FUNCTION chaos_staging_gate()',
  );
}

/** A staging write of the worker whose connections carry this application_name, waiting at the gate. */
const WAITING_AT_THE_GATE = `SELECT 1 FROM pg_stat_activity
  WHERE application_name = $1 AND wait_event_type = 'Lock' AND wait_event = 'advisory' AND query LIKE 'INSERT INTO pending_secrets%' LIMIT 1`;

/**
 * Kills a worker after Cloudflare has answered one of its issues (rotate or create) and before
 * the secret is staged: with the gate closed, the worker's staging INSERT waits where
 * pg_stat_activity shows it under the worker's application_name; the kill comes then, and the
 * gate opens after it (the waiting INSERT dies with its connection). Returns false when no issue
 * of this worker came within 45 s, or an outage broke the attempt: the worker is killed all the same.
 */
export async function killBetweenAnswerAndStaging(
  pool: Pool,
  worker: { applicationName: string; kill: () => Promise<void> },
  calm: () => boolean,
): Promise<boolean> {
  let aimed = false;
  try {
    const connection = await pool.connect();
    // A Postgres restart while the gate is held ends this session; that is no crash of the harness.
    const ignore = () => undefined;
    connection.on('error', ignore);
    try {
      await connection.query('BEGIN');
      await connection.query('SELECT pg_advisory_xact_lock($1, $2)', [...STAGING_GATE]);
      const deadline = Date.now() + 45_000;
      while (!aimed && Date.now() < deadline && !calm()) {
        // Asked outside the gate's transaction, which would see one snapshot of pg_stat_activity throughout.
        aimed = (await pool.query(WAITING_AT_THE_GATE, [worker.applicationName])).rowCount === 1;
        if (!aimed) await sleep(50); // the worker waits at the gate meanwhile
      }
      await worker.kill();
    } finally {
      await connection.query('ROLLBACK').catch(() => undefined);
      connection.off('error', ignore);
      connection.release();
    }
  } catch {
    aimed = false;
  }
  await worker.kill(); // a no-op when it is already dead
  return aimed;
}
