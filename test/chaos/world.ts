import { mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { createCloudflareClient } from '../../src/cloudflare/client';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { inventorySchema, type Inventory } from '../../src/config';
import type { PendingSecretStore } from '../../src/secrets/pending-secrets';
import { createStore, propagationTargetSchema, type ServiceTokenCredential, type StoreDeps } from '../../src/stores';
import { parseCredentialFile } from '../../src/stores/file-format';
import { adoptApiTokens, createChaosApiTokens, type ChaosApiToken } from './api-token-world';

export type Strategy = 'rotate-secret' | 'replace';

export interface ChaosFile {
  /** The path in the inventory: what the worker writes. */
  path: string;
  /** Where readers find the same file (the flaky directory's real location). */
  realPath: string;
  flaky: boolean;
}

export interface ChaosToken {
  name: string;
  strategy: Strategy;
  initialTokenId: string;
  files: ChaosFile[];
  workersSecret?: { script: string; names: { clientId: string; clientSecret: string } };
  secretsStore?: { storeId: string; names: { clientId: string; clientSecret: string } };
  /** The inventory's targets, in order. */
  targets: Array<Record<string, unknown>>;
}

/** A policy the chaos world created, and the managed tokens it names. */
export interface ChaosPolicy {
  id: string;
  name: string;
  tokens: string[];
}

/**
 * A directory of file stores that can be made unwritable for a while. As root, permission bits
 * stop nobody, so the configured path is a symlink that is swapped (atomically) between the
 * real directory and a plain file: while broken, every write and read-back through the
 * configured path fails with EEXIST/ENOTDIR, and the files already there are untouched.
 */
export class FlakyDirectory {
  broken = false;
  outages = 0;
  brokenMs = 0;
  longestOutageMs = 0;
  private brokenSince = 0;

  constructor(
    readonly link: string,
    readonly real: string,
    private readonly blocker: string,
  ) {
    mkdirSync(real, { recursive: true, mode: 0o700 });
    writeFileSync(blocker, 'not a directory\n');
    this.point(real);
  }

  break(): void {
    if (this.broken) return;
    this.point(this.blocker);
    this.broken = true;
    this.outages += 1;
    this.brokenSince = Date.now();
  }

  repair(): void {
    if (!this.broken) return;
    this.point(this.real);
    this.broken = false;
    const lasted = Date.now() - this.brokenSince;
    this.brokenMs += lasted;
    this.longestOutageMs = Math.max(this.longestOutageMs, lasted);
  }

  private point(target: string): void {
    const temporary = `${this.link}.${process.pid}.tmp`;
    rmSync(temporary, { force: true });
    symlinkSync(path.basename(target), temporary);
    renameSync(temporary, this.link);
  }
}

export interface ChaosWorld {
  accountId: string;
  appId: string;
  probeUrl: string;
  /** Where the workers read token-warden's own token, which the run rotates too (CLOUDFLARE_API_TOKEN_FILE). */
  wardenTokenFile: string;
  tokens: ChaosToken[];
  /** API tokens rotated beside the service tokens (successor strategy). */
  apiTokens: ChaosApiToken[];
  policies: ChaosPolicy[];
  inventory: Inventory;
  inventoryFile: string;
  flaky: FlakyDirectory;
  storeDeps: StoreDeps;
}

const bindingName = (name: string, half: 'id' | 'secret') => `${name.replace(/[^A-Za-z0-9]/g, '_')}_${half}`;

/**
 * The Cloudflare side and the stores of a chaos run: `count` service tokens of both strategies
 * in the simulator's demo account, every one named by a reusable policy of the probe app (and
 * the replace tokens also by an app-scoped policy of a second app), each with a file store,
 * some with a file in the flaky directory, a Workers secret or a Secrets Store secret; and
 * `apiTokens` API tokens with `rotate:` (api-token-world.ts). The inventory is written as YAML
 * for the worker process.
 */
export function buildChaosWorld(
  sim: RunningSimulator,
  options: { count: number; apiTokens: number; dir: string; overlap: string; propagationWait: string },
): { world: ChaosWorld; initial: Map<string, ServiceTokenCredential> } {
  const demo = sim.demo;
  if (!demo) throw new Error('the chaos world needs the simulator seeded with the demo account');
  const wardenToken = demo.apiTokens.warden.value;
  if (!wardenToken) throw new Error('the demo seed has no warden token value');
  const accountId = demo.accountId;
  const storesDir = path.join(options.dir, 'stores');
  mkdirSync(storesDir, { recursive: true, mode: 0o700 });
  const flaky = new FlakyDirectory(
    path.join(storesDir, 'flaky'),
    path.join(storesDir, 'flaky-real'),
    path.join(storesDir, 'flaky-blocker'),
  );

  const app = sim.state.createAccessApp({ accountId, name: 'chaos probe', domain: 'chaos.token-warden.example' });
  const backOffice = sim.state.createAccessApp({
    accountId,
    name: 'chaos back office',
    domain: 'back-office.token-warden.example',
  });
  const probeUrl = sim.probeUrl(app.id);

  const tokens: ChaosToken[] = [];
  /** The credentials Cloudflare issued at creation: handed to adoption, never kept. */
  const initial = new Map<string, ServiceTokenCredential>();
  for (let i = 0; i < options.count; i++) {
    const name = `chaos-${i}`;
    const strategy: Strategy = i % 2 === 0 ? 'rotate-secret' : 'replace';
    const created = sim.state.createServiceToken({ accountId, name, duration: '8760h' });
    initial.set(name, { clientId: created.clientId, clientSecret: created.clientSecret });
    const stable = path.join(storesDir, `${name}.env`);
    const files: ChaosFile[] = [{ path: stable, realPath: stable, flaky: false }];
    if (i % 3 !== 1)
      files.push({
        path: path.join(flaky.link, `${name}.env`),
        realPath: path.join(flaky.real, `${name}.env`),
        flaky: true,
      });
    const names = { clientId: bindingName(name, 'id'), clientSecret: bindingName(name, 'secret') };
    const token: ChaosToken = {
      name,
      strategy,
      initialTokenId: created.id,
      files,
      targets: files.map((f) => ({ kind: 'file', path: f.path })),
    };
    if (i % 3 === 1) {
      token.workersSecret = { script: demo.workerScript.name, names };
      token.targets.push({ kind: 'workers-secret', script: demo.workerScript.name, names });
    }
    if (i % 3 === 2) {
      token.secretsStore = { storeId: demo.secretsStore.id, names };
      token.targets.push({ kind: 'secrets-store', storeId: demo.secretsStore.id, names });
    }
    tokens.push(token);
  }

  const rule = (t: ChaosToken) => ({ service_token: { token_id: t.initialTokenId } });
  const probePolicy = sim.state.createAccessPolicy({
    accountId,
    name: 'chaos consumers',
    decision: 'non_identity',
    include: tokens.map(rule),
    attachTo: [app.id],
  });
  const replaced = tokens.filter((t) => t.strategy === 'replace');
  const backOfficePolicy = sim.state.createAccessPolicy({
    accountId,
    appId: backOffice.id,
    name: 'chaos back office',
    decision: 'non_identity',
    include: replaced.map(rule),
  });
  const policies: ChaosPolicy[] = [
    { id: probePolicy.id, name: 'chaos consumers', tokens: tokens.map((t) => t.name) },
    { id: backOfficePolicy.id, name: 'chaos back office', tokens: replaced.map((t) => t.name) },
  ];

  const api = createChaosApiTokens(sim, {
    count: options.apiTokens,
    accountId,
    storesDir,
    flaky,
    propagationWait: options.propagationWait,
    warden: options.apiTokens > 0 ? { id: demo.apiTokens.warden.id, value: wardenToken } : undefined,
  });
  const wardenTokenFile = api.tokens.find((t) => t.self)?.files[0]?.path ?? path.join(storesDir, 'warden-token');
  if (options.apiTokens === 0) writeFileSync(wardenTokenFile, `${wardenToken}\n`, { mode: 0o600 });
  for (const [name, credential] of api.initial) initial.set(name, credential);

  const document = {
    accounts: [
      {
        id: accountId,
        name: 'chaos',
        apiTokens: api.entries,
        serviceTokens: tokens.map((t) => ({
          name: t.name,
          strategy: t.strategy,
          overlap: options.overlap,
          propagationWait: options.propagationWait,
          duration: '8760h',
          probeUrl,
          targets: t.targets,
        })),
      },
    ],
  };
  const inventoryFile = path.join(options.dir, 'inventory.yaml');
  writeFileSync(inventoryFile, `# generated by the chaos engine\n${stringify(document)}`, { mode: 0o600 });
  const inventory = inventorySchema.parse(document);
  const wardenClient = createCloudflareClient({ apiToken: wardenToken, baseURL: sim.baseURL, purpose: 'mutations' });
  const storeDeps: StoreDeps = { cloudflare: () => wardenClient, env: {} };

  const world = {
    accountId,
    appId: app.id,
    probeUrl,
    wardenTokenFile,
    tokens,
    apiTokens: api.tokens,
    policies,
    inventory,
    inventoryFile,
    flaky,
    storeDeps,
  };
  return { world, initial };
}

/**
 * Adoption, as an operator would do it: every store receives the token's current credential and
 * token-warden records it as current (what compensation restores).
 */
export async function adoptCredentials(
  world: ChaosWorld,
  credentials: Map<string, ServiceTokenCredential>,
  pending: Pick<PendingSecretStore, 'setCurrent'>,
): Promise<void> {
  for (const token of world.tokens) {
    const credential = credentials.get(token.name);
    if (!credential) throw new Error(`no initial credential for ${token.name}`);
    for (const target of token.targets)
      await createStore(propagationTargetSchema.parse(target), world.storeDeps, { accountId: world.accountId }).write(
        credential,
      );
    await pending.setCurrent({ accountId: world.accountId, tokenName: token.name }, credential);
  }
  await adoptApiTokens(world.apiTokens, credentials, {
    accountId: world.accountId,
    storeDeps: world.storeDeps,
    pending,
  });
}

/** What a file store holds, or null when it holds no complete credential. */
export function readFileCredential(file: string): ServiceTokenCredential | null {
  try {
    const halves = parseCredentialFile(readFileSync(file, 'utf8'), 'env', {
      clientId: 'CF_ACCESS_CLIENT_ID',
      clientSecret: 'CF_ACCESS_CLIENT_SECRET',
    });
    return halves.clientId && halves.clientSecret
      ? { clientId: halves.clientId, clientSecret: halves.clientSecret }
      : null;
  } catch {
    return null;
  }
}
