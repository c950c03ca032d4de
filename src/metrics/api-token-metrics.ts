import { Gauge, type Registry } from 'prom-client';
import type { HealAttempt, LatestHealthCheck, OwnTokenAudit } from '../db/metrics-queries';

export interface ApiTokenSources {
  latestHealth: () => Promise<LatestHealthCheck | null>;
  latestHeal: () => Promise<HealAttempt[]>;
  lastApiTokenRotations: () => Promise<Array<{ accountId: string; tokenName: string; finishedAt: Date }>>;
}

const HEALTH_STATES = ['healthy', 'degraded', 'unhealthy'] as const;

const seconds = (iso: string) => Date.parse(iso) / 1000;
/** Gauges without labels would read 0 before any check; labelled by the token's id, they are absent instead. */
const ownTokenLabels = (audit: OwnTokenAudit) => ({ token_id: audit.tokenId ?? 'unknown' });

/** Cloudflare API tokens as the newest recorded health check found them, and token-warden's own token. */
export function registerApiTokenMetrics(registry: Registry, sources: ApiTokenSources): void {
  const tokenLabels = ['account_id', 'token'] as const;
  const checkedTokens = async () => (await sources.latestHealth())?.tokens ?? [];
  const ownToken = async () => (await sources.latestHealth())?.ownToken ?? null;

  new Gauge({
    name: 'token_warden_api_token_last_check_timestamp_seconds',
    help: 'When the newest recorded API-token health check ran (0: none recorded yet)',
    registers: [registry],
    async collect() {
      const check = await sources.latestHealth();
      this.reset();
      if (check) this.set(check.checkedAt.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'token_warden_api_token_health',
    help: 'Health of each API token at the newest check, after any heal (1 for its state)',
    labelNames: [...tokenLabels, 'kind', 'state'],
    registers: [registry],
    async collect() {
      const tokens = await checkedTokens();
      this.reset();
      for (const token of tokens) {
        for (const state of HEALTH_STATES)
          this.set(
            { account_id: token.accountId, token: token.name, kind: token.kind, state },
            token.state === state ? 1 : 0,
          );
      }
    },
  });
  new Gauge({
    name: 'token_warden_api_token_missing_permissions',
    help: 'Required permissions an API token lacked at the newest check',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const tokens = await checkedTokens();
      this.reset();
      for (const token of tokens)
        this.set({ account_id: token.accountId, token: token.name }, token.missingPermissions.length);
    },
  });
  new Gauge({
    name: 'token_warden_api_token_expiration_timestamp_seconds',
    help: 'When an API token expires, as the newest check read it (absent: it never expires)',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const tokens = await checkedTokens();
      this.reset();
      for (const token of tokens)
        if (token.expiresOn) this.set({ account_id: token.accountId, token: token.name }, seconds(token.expiresOn));
    },
  });
  new Gauge({
    name: 'token_warden_api_token_last_rotation_timestamp_seconds',
    help: 'When the newest completed rotation of an API token (rotate:) finished',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const rows = await sources.lastApiTokenRotations();
      this.reset();
      for (const row of rows)
        this.set({ account_id: row.accountId, token: row.tokenName }, row.finishedAt.getTime() / 1000);
    },
  });
  new Gauge({
    name: 'token_warden_api_token_last_heal_success',
    help: 'Whether the newest heal of an API token succeeded (1) or failed (0); a dry run is no heal',
    labelNames: tokenLabels,
    registers: [registry],
    async collect() {
      const attempts = await sources.latestHeal();
      this.reset();
      for (const attempt of attempts)
        this.set({ account_id: attempt.accountId, token: attempt.name }, attempt.success ? 1 : 0);
    },
  });
  new Gauge({
    name: 'token_warden_own_token_valid',
    help: "1 when Cloudflare accepted token-warden's own token and it was active at the newest check, else 0",
    labelNames: ['token_id'],
    registers: [registry],
    async collect() {
      const audit = await ownToken();
      this.reset();
      if (audit) this.set(ownTokenLabels(audit), audit.isValid && audit.isActive ? 1 : 0);
    },
  });
  new Gauge({
    name: 'token_warden_own_token_missing_permissions',
    help: "Permissions token-warden's own token needs for rotation or heal but lacked at the newest check",
    labelNames: ['token_id'],
    registers: [registry],
    async collect() {
      const audit = await ownToken();
      this.reset();
      if (audit) this.set(ownTokenLabels(audit), audit.missing.length);
    },
  });
  new Gauge({
    name: 'token_warden_own_token_expiration_timestamp_seconds',
    help: "When token-warden's own token expires (absent: it never expires)",
    labelNames: ['token_id'],
    registers: [registry],
    async collect() {
      const audit = await ownToken();
      this.reset();
      if (audit?.expiresOn) this.set(ownTokenLabels(audit), seconds(audit.expiresOn));
    },
  });
}
