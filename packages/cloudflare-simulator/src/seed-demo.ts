import { matchesFingerprint } from './ids';
import {
  PERMISSION_GROUPS,
  SEED_004_ACCOUNT_TOKEN_PERMISSIONS,
  SEED_004_USER_TOKEN_PERMISSIONS,
} from './permission-groups';
import { seedUnaccounted } from './seed-demo-unaccounted';
import type { SimulatorState } from './state/state';
import type { DemoSeed } from './state/types';

const DAY_MS = 86_400_000;

/** The two seed-004 permissions the demo account token lacks, so heal has work to do. */
export const DEMO_ACCOUNT_TOKEN_MISSING: readonly string[] = Object.freeze(['Workers Scripts Write', 'D1 Write']);

/** What token-warden needs to do its whole job. */
export const WARDEN_ACCOUNT_PERMISSIONS: readonly string[] = Object.freeze([
  'Access: Service Tokens Write',
  'Access: Apps and Policies Write',
  'Account API Tokens Write',
  'Workers Scripts Write',
  'Secrets Store Write',
  'Account Settings Read',
]);
export const WARDEN_USER_PERMISSIONS: readonly string[] = Object.freeze(['API Tokens Write']);

/**
 * Seeds the demo account once. When state came from a file that was seeded before, this
 * returns the recorded seed instead of seeding again; a secret that has since been
 * rotated or rolled is reported as null, because the simulator (like Cloudflare) cannot
 * show it again.
 *
 * The demo record — including the secret values it created — is kept in the state file
 * (mode 0600) so `npm run simulator -- --state FILE` can print working credentials
 * after a restart. Nothing else in state holds a secret value.
 */
export function seedDemo(state: SimulatorState): DemoSeed {
  const existing = state.store.data.demo;
  if (existing) return reconcile(state, existing);
  return state.batch(() => {
    const account = state.createAccount({ name: 'token-warden demo' });
    const zone = state.createZone({ accountId: account.id, name: 'demo.token-warden.example' });
    const now = state.clock.now();

    const allAccountGroups = PERMISSION_GROUPS.filter((g) => !g.scopes.includes('com.cloudflare.api.user')).map(
      (g) => g.name,
    );
    const allUserGroups = PERMISSION_GROUPS.filter((g) => g.scopes.includes('com.cloudflare.api.user')).map(
      (g) => g.name,
    );

    const warden = state.createApiToken({
      owner: 'user',
      name: 'token-warden',
      accountId: account.id,
      permissions: [...WARDEN_ACCOUNT_PERMISSIONS, ...WARDEN_USER_PERMISSIONS],
    });
    const user = state.createApiToken({
      owner: 'user',
      name: 'CLOUDFLARE_USER_TOKEN',
      accountId: account.id,
      permissions: [...new Set([...allAccountGroups, ...allUserGroups, ...SEED_004_USER_TOKEN_PERMISSIONS])],
    });
    const accountToken = state.createApiToken({
      owner: { accountId: account.id },
      name: 'CLOUDFLARE_ACCOUNT_TOKEN',
      permissions: SEED_004_ACCOUNT_TOKEN_PERMISSIONS.filter((p) => !DEMO_ACCOUNT_TOKEN_MISSING.includes(p)),
    });

    const ci = state.createServiceToken({ accountId: account.id, name: 'ci-deploy', duration: '8760h' });
    const consumer = state.createServiceToken({ accountId: account.id, name: 'chaos-consumer', duration: '8760h' });
    const backup = state.createServiceToken({
      accountId: account.id,
      name: 'backup-job',
      duration: '720h',
      expiresAt: new Date(now + 20 * DAY_MS),
    });
    const legacy = state.createServiceToken({ zoneId: zone.id, name: 'legacy-zone-probe', duration: '2160h' });

    const app = state.createAccessApp({
      accountId: account.id,
      name: 'Demo internal API',
      domain: 'internal.demo.token-warden.example',
    });
    const reusableName = 'warden-managed service tokens';
    const reusable = state.createAccessPolicy({
      accountId: account.id,
      name: reusableName,
      decision: 'non_identity',
      include: [{ service_token: { token_id: ci.id } }, { service_token: { token_id: consumer.id } }],
      attachTo: [app.id],
    });
    const appScopedName = 'backup job';
    const appScoped = state.createAccessPolicy({
      accountId: account.id,
      appId: app.id,
      name: appScopedName,
      decision: 'non_identity',
      include: [{ service_token: { token_id: backup.id } }],
    });

    const script = state.createWorkerScript({ accountId: account.id, name: 'demo-worker' });
    const dispatch = state.createWorkerScript({
      accountId: account.id,
      name: 'customer-worker',
      dispatchNamespace: 'demo-dispatch',
    });
    const store = state.createSecretsStore({ accountId: account.id, name: 'demo-secrets-store' });
    seedUnaccounted(state, account.id);

    const expiresAt = (id: string): string | null => state.serviceTokens.get(id)?.expires_at ?? null;
    const demo: DemoSeed = {
      accountId: account.id,
      accountName: account.name,
      zoneId: zone.id,
      zoneName: zone.name,
      userId: state.user.id,
      userEmail: state.user.email,
      apiTokens: {
        warden: { id: warden.id, name: 'token-warden', owner: 'user', value: warden.value },
        user: { id: user.id, name: 'CLOUDFLARE_USER_TOKEN', owner: 'user', value: user.value },
        account: { id: accountToken.id, name: 'CLOUDFLARE_ACCOUNT_TOKEN', owner: 'account', value: accountToken.value },
      },
      accountTokenMissingPermissions: [...DEMO_ACCOUNT_TOKEN_MISSING],
      serviceTokens: [
        { ...ci, name: 'ci-deploy', scope: 'account' },
        { ...consumer, name: 'chaos-consumer', scope: 'account' },
        { ...backup, name: 'backup-job', scope: 'account' },
        { ...legacy, name: 'legacy-zone-probe', scope: 'zone' },
      ].map((t) => ({
        id: t.id,
        name: t.name,
        scope: t.scope === 'zone' ? ('zone' as const) : ('account' as const),
        clientId: t.clientId,
        clientSecret: t.clientSecret,
        expiresAt: expiresAt(t.id),
      })),
      accessApp: { id: app.id, name: app.name, domain: app.domain, aud: app.aud },
      accessPolicies: {
        reusable: { id: reusable.id, name: reusableName },
        appScoped: { id: appScoped.id, name: appScopedName },
      },
      workerScript: { name: script.name },
      dispatchScript: { namespace: dispatch.dispatchNamespace ?? 'demo-dispatch', name: dispatch.name },
      secretsStore: { id: store.id, name: store.name },
    };
    state.store.mutate((data) => {
      data.demo = demo;
    });
    return structuredClone(demo);
  });
}

/** The recorded seed with every secret that no longer authenticates replaced by null. */
function reconcile(state: SimulatorState, demo: DemoSeed): DemoSeed {
  const copy = structuredClone(demo);
  for (const token of Object.values(copy.apiTokens)) {
    const record = state.apiTokens.get(token.id);
    if (token.value !== null && !(record && matchesFingerprint(token.value, record.valueHash))) token.value = null;
  }
  for (const token of copy.serviceTokens) {
    const record = state.serviceTokens.get(token.id);
    if (token.clientSecret !== null && !(record && matchesFingerprint(token.clientSecret, record.secretHash))) {
      token.clientSecret = null;
    }
    token.expiresAt = record?.expires_at ?? token.expiresAt;
  }
  return copy;
}
