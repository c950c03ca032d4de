import { Gauge, type Registry } from 'prom-client';
import type { LastRotation, RotationCount } from '../db/metrics-queries';
import type { ServiceTokenExpiry } from '../service-token-expiry';

export interface ServiceTokenSources {
  rotationCounts: () => Promise<RotationCount[]>;
  lastRotations: () => Promise<LastRotation[]>;
  /** Cloudflare's expiry dates (cached by the reader); absent where Cloudflare is not wired, and then no expiry or readiness is exported. */
  expiry?: () => Promise<ServiceTokenExpiry[]>;
}

const FINISHED_STATUSES = ['completed', 'compensated', 'failed', 'cancelled'] as const;
const CONDITIONS = ['True', 'False', 'Unknown'] as const;

const seconds = (date: Date | string) => new Date(date).getTime() / 1000;

/**
 * Ready (cert-manager's `ready_status`): Cloudflare lists the token, it has not expired, and its
 * newest finished rotation did not fail. Unknown when Cloudflare's listing does not show it: the
 * listing may have failed, so absence proves nothing.
 */
function readiness(
  token: ServiceTokenExpiry,
  lastStatus: string | undefined,
  now: number,
): (typeof CONDITIONS)[number] {
  if (!token.tokenId) return 'Unknown';
  const expired = token.expiresAt !== null && Date.parse(token.expiresAt) <= now;
  return expired || lastStatus === 'failed' ? 'False' : 'True';
}

/** Access service tokens: expiry, rotation history and readiness, named after cert-manager's certificate metrics. */
export function registerServiceTokenMetrics(registry: Registry, sources: ServiceTokenSources): void {
  const tokenLabels = ['account_id', 'token'] as const;
  const expiry = async () => (sources.expiry ? sources.expiry().catch(() => []) : []);

  new Gauge({
    name: 'token_warden_rotations',
    help: 'Rotation runs recorded in Postgres, by token and status',
    labelNames: [...tokenLabels, 'status'],
    registers: [registry],
    async collect() {
      const counts = await sources.rotationCounts();
      this.reset();
      for (const row of counts)
        this.set({ account_id: row.accountId, token: row.tokenName, status: row.status }, row.count);
    },
  });
  new Gauge({
    name: 'token_warden_service_token_last_rotation_timestamp_seconds',
    help: 'When the newest completed rotation of a service token finished',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const counts = await sources.rotationCounts();
      this.reset();
      for (const row of counts)
        if (row.status === 'completed' && row.lastFinishedAt)
          this.set({ account_id: row.accountId, token: row.tokenName }, seconds(row.lastFinishedAt));
    },
  });
  new Gauge({
    name: 'token_warden_service_token_last_rotation_status',
    help: 'Outcome of the newest finished rotation of a service token: 1 for its status (failed: needs an operator; compensated: undone, the old credential is still in use)',
    labelNames: [...tokenLabels, 'status'],
    registers: [registry],
    async collect() {
      const last = await sources.lastRotations();
      this.reset();
      for (const row of last)
        for (const status of FINISHED_STATUSES)
          this.set({ account_id: row.accountId, token: row.tokenName, status }, row.status === status ? 1 : 0);
    },
  });
  new Gauge({
    name: 'token_warden_service_token_expiration_timestamp_seconds',
    help: 'When a managed Access service token expires, as Cloudflare lists it',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const tokens = await expiry();
      this.reset();
      for (const token of tokens)
        if (token.expiresAt)
          this.set({ account_id: token.accountId, token: token.tokenName }, seconds(token.expiresAt));
    },
  });
  new Gauge({
    name: 'token_warden_service_token_ready_status',
    help: 'Whether a managed service token is ready: listed by Cloudflare, not expired, newest rotation not failed (1 for its condition)',
    labelNames: [...tokenLabels, 'condition'],
    registers: [registry],
    async collect() {
      const [tokens, last] = await Promise.all([expiry(), sources.lastRotations()]);
      const lastStatus = new Map(last.map((row) => [`${row.accountId}/${row.tokenName}`, row.status]));
      const now = Date.now();
      this.reset();
      for (const token of tokens) {
        const ready = readiness(token, lastStatus.get(`${token.accountId}/${token.tokenName}`), now);
        for (const condition of CONDITIONS)
          this.set({ account_id: token.accountId, token: token.tokenName, condition }, condition === ready ? 1 : 0);
      }
    },
  });
}
