import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { createCloudflareClient } from '../../src/cloudflare/client';
import {
  WARDEN_ACCOUNT_PERMISSIONS,
  WARDEN_USER_PERMISSIONS,
  type RunningSimulator,
} from '@token-warden/cloudflare-simulator';
import { inventorySchema } from '../../src/config';
import type { ServiceTokenCredential, StoreDeps, StoreMemo } from '../../src/stores';
import { ChaosRandom } from '../chaos/random';
import { FlakyDirectory, type ChaosPolicy, type ChaosToken, type ChaosWorld, type Strategy } from '../chaos/world';

export interface BenchWorldOptions {
  /** Managed service tokens, alternately rotate-secret and replace. */
  tokens: number;
  /** API tokens of the same Cloudflare user in the inventory, token-warden's own first among them (0: none). */
  apiTokens: number;
  apps: number;
  /** Access policies, spread over the apps (even ones reusable, odd ones app-scoped). */
  policies: number;
  /** One token in this many also has a Workers-secret target, and as many others a Secrets-Store one (0: none). */
  cloudflareStoreEvery: number;
  dir: string;
  overlap: string;
  propagationWait: string;
  seed: number;
  /** Secrets Store ids are remembered here by adoption, as token-warden's own writes would. */
  memo?: StoreMemo;
  /** Every token rotate-secret with its file store only and no probe (the speed phase's rotations). */
  plain?: boolean;
}

/** The tokens the requests-per-operation phase measures on, the first three of the fleet. */
export interface OperationTokens {
  /** rotate-secret, with a file, a Workers-secret and a Secrets-Store target. */
  rotateSecret: string;
  /** replace, with the same targets, named by `replacePolicies` policies. */
  replace: string;
  replacePolicies: number;
  /** rotate-secret, with the same targets: the emergency revoke measured alone. */
  revoke: string;
  /** Cloudflare-hosted stores of each of them. */
  cloudflareStores: number;
}

export interface BenchWorld {
  /** What the chaos suite's adoption and checks take (its flaky directory goes unused here). */
  chaos: ChaosWorld;
  accountId: string;
  wardenToken: string;
  /** The Cloudflare user every token here belongs to: its rate-limit key in the simulator. */
  userKey: string;
  /** Service tokens in inventory order, with the id each had when the world was built. */
  tokens: Array<{ name: string; strategy: Strategy; tokenId: string; policies: number; cloudflareStores: number }>;
  apiTokenNames: string[];
  apps: number;
  policies: number;
  operations: OperationTokens;
}

const bindingName = (name: string, half: 'id' | 'secret') => `${name.replace(/[^A-Za-z0-9]/g, '_')}_${half}`;

/**
 * A fleet in a simulator seeded with nothing: one account, token-warden's own user token (what it
 * needs to do its whole job), `apps` Access apps with `policies` policies among them, and
 * `tokens` service tokens of both strategies, each named by 1–3 of the policies (its probe app is
 * the first one's), each with a file store, some with a Workers secret or a Secrets Store secret.
 * `apiTokens` API tokens of the same user, each allowed to read itself (so a health check
 * spends one GET on it once it knows its id), token-warden's own the first. The inventory is
 * written as YAML for the worker processes, the API tokens' values as files beside it.
 */
export function buildBenchWorld(
  sim: RunningSimulator,
  options: BenchWorldOptions,
): { world: BenchWorld; initial: Map<string, ServiceTokenCredential> } {
  if (options.tokens < 3)
    throw new Error('the bench world needs at least 3 service tokens (the measured operations use the first three)');
  const random = new ChaosRandom(options.seed);
  const state = sim.state;
  const account = state.createAccount({ name: 'token-warden bench' });
  const accountId = account.id;
  const warden = state.createApiToken({
    owner: 'user',
    name: 'token-warden',
    accountId,
    permissions: [...WARDEN_ACCOUNT_PERMISSIONS, ...WARDEN_USER_PERMISSIONS],
  });
  const userKey = sim.rateLimit.keyOf(warden.value);
  if (!userKey) throw new Error('the simulator does not know token-warden’s own token');
  const script = state.createWorkerScript({ accountId, name: 'bench-worker' });
  const secretsStore = state.createSecretsStore({ accountId, name: 'bench-store' });
  // Cloudflare's Secrets Store holds 100 secrets per account; the fleet needs two per token there.
  state.setSecretsQuota(Math.max(100, 2 * options.tokens + 10));

  mkdirSync(options.dir, { recursive: true, mode: 0o700 });
  const storesDir = path.join(options.dir, 'stores');
  mkdirSync(storesDir, { recursive: true, mode: 0o700 });
  const secretsDir = path.join(options.dir, 'api-token-values');
  mkdirSync(secretsDir, { recursive: true, mode: 0o700 });

  const apps = Array.from({ length: options.apps }, (_, i) =>
    state.createAccessApp({ accountId, name: `bench app ${i}`, domain: `app-${i}.bench.token-warden.example` }),
  );
  const policyApp = (p: number) => apps[Math.floor((p * apps.length) / options.policies)]!;

  const tokens: BenchWorld['tokens'] = [];
  const chaosTokens: ChaosToken[] = [];
  const initial = new Map<string, ServiceTokenCredential>();
  /** Policy index → the tokens (ids, names) it names. */
  const members = Array.from({ length: options.policies }, () => ({ ids: [] as string[], names: [] as string[] }));
  const width = String(options.tokens - 1).length;
  for (let i = 0; i < options.tokens; i++) {
    const name = `bench-${String(i).padStart(width, '0')}`;
    const strategy: Strategy = !options.plain && (i === 1 || (i > 2 && i % 2 === 1)) ? 'replace' : 'rotate-secret';
    const created = state.createServiceToken({ accountId, name, duration: '8760h' });
    initial.set(name, { clientId: created.clientId, clientSecret: created.clientSecret });
    // The measured operations: the replace token (1) in 3 policies, the other two in one.
    const count =
      i === 1 ? Math.min(3, options.policies) : i < 3 ? 1 : random.between(1, Math.min(3, options.policies));
    const chosen = new Set<number>();
    while (chosen.size < count) chosen.add(random.between(0, options.policies - 1));
    for (const p of chosen) {
      members[p]!.ids.push(created.id);
      members[p]!.names.push(name);
    }
    const file = path.join(storesDir, `${name}.env`);
    const names = { clientId: bindingName(name, 'id'), clientSecret: bindingName(name, 'secret') };
    const every = options.cloudflareStoreEvery;
    const workers = !options.plain && (i < 3 || (every > 0 && i % every === 3 % every));
    const secrets = !options.plain && (i < 3 || (every > 0 && i % every === 7 % every));
    const token: ChaosToken = {
      name,
      strategy,
      initialTokenId: created.id,
      files: [{ path: file, realPath: file, flaky: false }],
      targets: [{ kind: 'file', path: file }],
    };
    if (workers) {
      token.workersSecret = { script: script.name, names };
      token.targets.push({ kind: 'workers-secret', script: script.name, names });
    }
    if (secrets) {
      token.secretsStore = { storeId: secretsStore.id, names };
      token.targets.push({ kind: 'secrets-store', storeId: secretsStore.id, names });
    }
    chaosTokens.push(token);
    tokens.push({
      name,
      strategy,
      tokenId: created.id,
      policies: count,
      cloudflareStores: Number(workers) + Number(secrets),
    });
  }

  const policies: ChaosPolicy[] = members.map((m, p) => {
    const app = policyApp(p);
    const include = m.ids.map((id) => ({ service_token: { token_id: id } }));
    const name = `bench policy ${p}`;
    // A policy naming nobody still exists (and is scanned); Cloudflare wants at least one rule.
    const rules = include.length ? include : [{ any_valid_service_token: {} }];
    const created =
      p % 2 === 0
        ? state.createAccessPolicy({ accountId, name, include: rules, attachTo: [app.id] })
        : state.createAccessPolicy({ accountId, appId: app.id, name, include: rules });
    return { id: created.id, name, tokens: m.names };
  });
  /** The probe app of a token: the app of the first policy naming it. */
  const probeApp = new Map<string, string>();
  members.forEach((m, p) => {
    for (const name of m.names) if (!probeApp.has(name)) probeApp.set(name, policyApp(p).id);
  });

  const apiTokenNames: string[] = [];
  const apiTokens = [];
  for (let i = 0; i < options.apiTokens; i++) {
    const own = i === 0;
    const name = own ? 'token-warden' : `api-token-${String(i).padStart(3, '0')}`;
    const value = own
      ? warden.value
      : state.createApiToken({ owner: 'user', name, accountId, permissions: ['API Tokens Read'] }).value;
    const file = path.join(secretsDir, name);
    writeFileSync(file, `${value}\n`, { mode: 0o600 });
    apiTokenNames.push(name);
    apiTokens.push({ name, kind: 'user', secretFrom: { file }, requiredPermissions: own ? [] : ['API Tokens: Read'] });
  }

  const document = {
    accounts: [
      {
        id: accountId,
        name: 'bench',
        apiTokens,
        serviceTokens: chaosTokens.map((t) => ({
          name: t.name,
          strategy: t.strategy,
          overlap: options.overlap,
          propagationWait: options.propagationWait,
          duration: '8760h',
          ...(options.plain ? {} : { probeUrl: sim.probeUrl(probeApp.get(t.name) ?? apps[0]!.id) }),
          targets: t.targets,
        })),
      },
    ],
  };
  const inventoryFile = path.join(options.dir, 'inventory.yaml');
  writeFileSync(inventoryFile, `# generated by npm run bench\n${stringify(document)}`, { mode: 0o600 });
  const inventory = inventorySchema.parse(document);
  const wardenClient = createCloudflareClient({ apiToken: warden.value, baseURL: sim.baseURL, purpose: 'mutations' });
  const storeDeps: StoreDeps = {
    cloudflare: () => wardenClient,
    env: {},
    ...(options.memo ? { memo: options.memo } : {}),
  };
  const flaky = new FlakyDirectory(
    path.join(storesDir, 'unused-flaky'),
    path.join(storesDir, 'unused-flaky-real'),
    path.join(storesDir, 'unused-flaky-blocker'),
  );
  const wardenTokenFile = path.join(storesDir, 'warden-token');
  writeFileSync(wardenTokenFile, `${warden.value}\n`, { mode: 0o600 });
  const chaos: ChaosWorld = {
    accountId,
    appId: apps[0]!.id,
    probeUrl: sim.probeUrl(apps[0]!.id),
    wardenTokenFile,
    tokens: chaosTokens,
    apiTokens: [],
    policies,
    inventory,
    inventoryFile,
    flaky,
    storeDeps,
  };
  const world: BenchWorld = {
    chaos,
    accountId,
    wardenToken: warden.value,
    userKey,
    tokens,
    apiTokenNames,
    apps: apps.length,
    policies: policies.length,
    operations: {
      rotateSecret: tokens[0]!.name,
      replace: tokens[1]!.name,
      replacePolicies: tokens[1]!.policies,
      revoke: tokens[2]!.name,
      cloudflareStores: 2,
    },
  };
  return { world, initial };
}
