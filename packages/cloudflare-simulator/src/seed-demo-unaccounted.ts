import type { SimulatorState } from './state/state';

const DAY_MS = 86_400_000;

/** What discovery should report in the demo account: credentials no inventory entry names. */
export const DEMO_UNACCOUNTED = Object.freeze({
  /** Unmanaged, never expires, last seen 200 days ago. */
  neverExpiringServiceToken: 'legacy-deploy-bot',
  /** Unmanaged, expires in a year, created 400 days ago and not seen for 120. */
  unusedServiceToken: 'vendor-integration',
  /** Unmanaged account-owned API token, never expires, last used 180 days ago. */
  unusedAccountApiToken: 'terraform-ci (old)',
  /** Unmanaged user API token, never expires, issued a year ago and never used. */
  neverUsedUserApiToken: 'laptop-script',
});

/**
 * Credentials an auditor asks about first, left in the demo account as people leave them: made
 * by hand, never expiring, unused for months. Their dates are set back as Cloudflare would show
 * them after that time. Discovery (token-warden's `discoverCredentials`) reports them.
 */
export function seedUnaccounted(state: SimulatorState, accountId: string): void {
  const now = state.clock.now();
  const ago = (days: number) => new Date(now - days * DAY_MS).toISOString();
  const names = DEMO_UNACCOUNTED;

  const bot = state.createServiceToken({ accountId, name: names.neverExpiringServiceToken, expiresAt: null });
  const vendor = state.createServiceToken({ accountId, name: names.unusedServiceToken, duration: '8760h' });
  const terraform = state.createApiToken({
    owner: { accountId },
    name: names.unusedAccountApiToken,
    permissions: ['Workers Scripts Write', 'Account Settings Read'],
  });
  const laptop = state.createApiToken({
    owner: 'user',
    name: names.neverUsedUserApiToken,
    accountId,
    permissions: ['Workers Scripts Write'],
  });

  state.store.mutate((data) => {
    const serviceToken = (id: string) => data.serviceTokens[id];
    const apiToken = (id: string) => data.apiTokens[id];
    Object.assign(serviceToken(bot.id) ?? {}, { created_at: ago(500), last_seen_at: ago(200) });
    Object.assign(serviceToken(vendor.id) ?? {}, {
      created_at: ago(400),
      last_seen_at: ago(120),
      expires_at: new Date(now + 365 * DAY_MS).toISOString(),
    });
    Object.assign(apiToken(terraform.id) ?? {}, { issued_on: ago(700), last_used_on: ago(180) });
    Object.assign(apiToken(laptop.id) ?? {}, { issued_on: ago(365), last_used_on: null });
  });
}
