import { randomUUID } from 'node:crypto';
import type { Pool } from 'pg';
import { fingerprintCredential } from '../stores/fingerprint';
import type { ServiceTokenCredential } from '../stores/store-types';
import type { SecretBox } from './secret-box';

/**
 * Where a service-token credential lives between Cloudflare and the stores, encrypted at rest
 * (like AWS Secrets Manager's AWSPENDING / AWSCURRENT stages). Workflows and activity
 * arguments carry only the `ref`; the value is opened here, inside an activity, when a store
 * needs it.
 *
 * - `pending`: issued by a running rotation, not yet promoted.
 * - `current`: the credential every store is meant to hold; the one compensation restores.
 */
export type SecretStage = 'pending' | 'current';

export interface StagedSecret {
  ref: string;
  fingerprint: string;
  stage: SecretStage;
}

export interface TokenKey {
  accountId: string;
  tokenName: string;
  /** Absent: an Access service token. An API token's secrets are kept apart from a namesake service token's. */
  credential?: 'api-token';
}

/** The row key of a token's secrets: an API token's name is prefixed, so it never meets a service token's. */
const rowKey = (token: TokenKey): TokenKey => ({
  accountId: token.accountId,
  tokenName: token.credential === 'api-token' ? `api-token:${token.tokenName}` : token.tokenName,
});

const aad = (ref: string, token: TokenKey) => `${ref}|${token.accountId}|${token.tokenName}`;

export function createPendingSecretStore(pool: Pool, box: SecretBox) {
  async function insert(
    key: TokenKey,
    credential: ServiceTokenCredential,
    stage: SecretStage,
    ref: string,
  ): Promise<StagedSecret> {
    const token = rowKey(key);
    const sealed = box.seal(JSON.stringify(credential), aad(ref, token));
    const fingerprint = fingerprintCredential(credential);
    await pool.query(
      `INSERT INTO pending_secrets (ref, account_id, token_name, stage, key_id, ciphertext, fingerprint)
       VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (ref) DO NOTHING`,
      [ref, token.accountId, token.tokenName, stage, sealed.keyId, sealed.ciphertext, fingerprint],
    );
    return { ref, fingerprint, stage };
  }

  return {
    /** Stages a freshly issued credential; the caller chose `ref` before calling Cloudflare. */
    stagePending: (token: TokenKey, ref: string, credential: ServiceTokenCredential) =>
      insert(token, credential, 'pending', ref),

    /** Records the credential the stores hold today (first import, or after a rotation). */
    async setCurrent(key: TokenKey, credential: ServiceTokenCredential): Promise<StagedSecret> {
      const token = rowKey(key);
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        await client.query(
          `DELETE FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'current'`,
          [token.accountId, token.tokenName],
        );
        const ref = randomUUID();
        const sealed = box.seal(JSON.stringify(credential), aad(ref, token));
        const fingerprint = fingerprintCredential(credential);
        await client.query(
          `INSERT INTO pending_secrets (ref, account_id, token_name, stage, key_id, ciphertext, fingerprint) VALUES ($1, $2, $3, 'current', $4, $5, $6)`,
          [ref, token.accountId, token.tokenName, sealed.keyId, sealed.ciphertext, fingerprint],
        );
        await client.query('COMMIT');
        return { ref, fingerprint, stage: 'current' };
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },

    async find(ref: string): Promise<(StagedSecret & TokenKey) | undefined> {
      const { rows } = await pool.query(
        `SELECT ref, fingerprint, stage, account_id, token_name FROM pending_secrets WHERE ref = $1`,
        [ref],
      );
      const row = rows[0];
      return (
        row && {
          ref: row.ref,
          fingerprint: row.fingerprint,
          stage: row.stage,
          accountId: row.account_id,
          tokenName: row.token_name,
        }
      );
    },

    async current(key: TokenKey): Promise<StagedSecret | undefined> {
      const token = rowKey(key);
      const { rows } = await pool.query(
        `SELECT ref, fingerprint, stage FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'current' ORDER BY created_at DESC LIMIT 1`,
        [token.accountId, token.tokenName],
      );
      return rows[0] && { ref: rows[0].ref, fingerprint: rows[0].fingerprint, stage: 'current' };
    },

    /** The plaintext, for an activity about to write a store. Never return it from an activity. */
    async open(ref: string): Promise<ServiceTokenCredential> {
      const { rows } = await pool.query(
        `SELECT account_id, token_name, key_id, ciphertext FROM pending_secrets WHERE ref = $1`,
        [ref],
      );
      const row = rows[0];
      if (!row) throw new Error(`no staged secret ${ref}`);
      const plain = box.open(
        { keyId: row.key_id, ciphertext: row.ciphertext },
        aad(ref, { accountId: row.account_id, tokenName: row.token_name }),
      );
      return JSON.parse(plain) as ServiceTokenCredential;
    },

    /**
     * Finish: the pending credential becomes current; the old current row and any secret staged
     * by an earlier run that never finished (one run per token at a time, so none is in use) are
     * wiped. Idempotent.
     */
    async promote(ref: string): Promise<void> {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const { rows } = await client.query(
          `SELECT account_id, token_name, stage FROM pending_secrets WHERE ref = $1 FOR UPDATE`,
          [ref],
        );
        const row = rows[0];
        if (row && row.stage === 'pending') {
          await client.query(
            `DELETE FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'current'`,
            [row.account_id, row.token_name],
          );
          await client.query(`UPDATE pending_secrets SET stage = 'current' WHERE ref = $1`, [ref]);
          await client.query(
            `DELETE FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'pending' AND ref <> $3`,
            [row.account_id, row.token_name, ref],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK');
        throw error;
      } finally {
        client.release();
      }
    },

    /** Compensation: a pending secret that will never be used is wiped. Idempotent. */
    async discard(ref: string): Promise<void> {
      await pool.query(`DELETE FROM pending_secrets WHERE ref = $1 AND stage = 'pending'`, [ref]);
    },
  };
}

export type PendingSecretStore = ReturnType<typeof createPendingSecretStore>;
