import type { SimClock } from '../clock';
import { badRequest } from '../errors';
import { seedDemo } from '../seed-demo';
import { AccessRepo } from './access';
import { AccountsRepo } from './accounts';
import { ApiTokensRepo, apiTokenView } from './api-tokens';
import { SecretsStoreRepo } from './secrets-store';
import { serviceTokenView, ServiceTokensRepo } from './service-tokens';
import { SimStore, type PersistFn } from './store';
import { policiesForGroups } from './permission-policies';
import type {
  CreateAccessPolicyOptions,
  CreateApiTokenOptions,
  CreateServiceTokenOptions,
  ScriptOptions,
} from './state-options';
import type { DemoSeed, SimData } from './types';
import { WorkersRepo } from './workers';

const iso = (value: string | Date): string => (typeof value === 'string' ? value : value.toISOString());

/**
 * Everything the simulator knows, plus the programmatic helpers tests use to arrange it.
 * The HTTP routes go through the same repositories, so a helper and an API call always
 * agree.
 */
export class SimulatorState {
  readonly store: SimStore;
  readonly accounts: AccountsRepo;
  readonly apiTokens: ApiTokensRepo;
  readonly serviceTokens: ServiceTokensRepo;
  readonly access: AccessRepo;
  readonly workers: WorkersRepo;
  readonly secretsStore: SecretsStoreRepo;

  constructor(
    data: SimData,
    readonly clock: SimClock,
    persist?: PersistFn,
  ) {
    this.store = new SimStore(data, clock, persist);
    this.accounts = new AccountsRepo(this.store);
    this.apiTokens = new ApiTokensRepo(this.store);
    this.serviceTokens = new ServiceTokensRepo(this.store);
    this.access = new AccessRepo(this.store, this.accounts, this.serviceTokens);
    this.workers = new WorkersRepo(this.store, this.accounts);
    this.secretsStore = new SecretsStoreRepo(this.store, this.accounts);
  }

  now(): Date {
    return new Date(this.clock.now());
  }

  get user(): { id: string; email: string } {
    return this.accounts.user;
  }

  /**
   * Seeds the demo account (idempotent: state that was seeded before is returned, with
   * secrets rotated since reported as null). See seed-demo.ts.
   */
  seedDemo(): DemoSeed {
    return seedDemo(this);
  }

  /** Runs several changes with a single state-file write at the end. */
  batch<T>(work: () => T): T {
    return this.store.mutate(() => work());
  }

  createAccount(input: { name?: string; id?: string } = {}): { id: string; name: string } {
    return this.accounts.createAccount(input);
  }

  createZone(input: { accountId: string; name: string }): { id: string; name: string; accountId: string } {
    return this.accounts.createZone(input);
  }

  createApiToken(options: CreateApiTokenOptions): { id: string; value: string } {
    const owner =
      options.owner === 'user'
        ? ({ kind: 'user' } as const)
        : ({ kind: 'account', accountId: options.owner.accountId } as const);
    if (owner.kind === 'account') this.accounts.requireAccount(owner.accountId);
    const policies = [
      ...policiesForGroups(
        options.permissions ?? [],
        owner.kind === 'account' ? owner.accountId : options.accountId,
        owner.kind,
        this.user.id,
      ),
      ...(options.policies ?? []),
    ];
    const { record, value } = this.apiTokens.create(owner, {
      name: options.name,
      policies,
      ...(options.expiresOn !== undefined ? { expires_on: iso(options.expiresOn) } : {}),
      ...(options.notBefore !== undefined ? { not_before: iso(options.notBefore) } : {}),
      ...(options.status !== undefined ? { status: options.status } : {}),
      ...(options.requestIp !== undefined ? { requestIp: options.requestIp } : {}),
    });
    return { id: record.id, value };
  }

  /** The API view of a token (status, policies with group names); never the value. */
  getApiToken(id: string): Record<string, unknown> | undefined {
    const token = this.apiTokens.get(id);
    return token ? apiTokenView(token, this.apiTokens.validity(token)) : undefined;
  }

  setApiTokenStatus(id: string, status: 'active' | 'disabled' | 'expired'): void {
    const token = this.apiTokens.get(id);
    if (!token) throw badRequest(`API token ${id} does not exist`);
    this.store.mutate(() => {
      token.status = status;
    });
  }

  createServiceToken(options: CreateServiceTokenOptions): { id: string; clientId: string; clientSecret: string } {
    const scope = this.serviceTokenScope(options);
    const { record, clientSecret } = this.serviceTokens.create(scope, {
      name: options.name,
      ...(options.duration !== undefined ? { duration: options.duration } : {}),
      ...(options.enabled !== undefined ? { enabled: options.enabled } : {}),
      ...(options.expiresAt !== undefined
        ? { expiresAt: options.expiresAt === null ? null : iso(options.expiresAt) }
        : {}),
    });
    return { id: record.id, clientId: record.client_id, clientSecret };
  }

  /** The API view of a service token (client_secret_version, expiries…); never a secret. */
  getServiceToken(id: string): Record<string, unknown> | undefined {
    const token = this.serviceTokens.get(id);
    return token ? serviceTokenView(token) : undefined;
  }

  rotateServiceToken(
    id: string,
    options: { previousSecretExpiresAt?: string | Date } = {},
  ): { clientSecret: string; clientSecretVersion: number } {
    const token = this.serviceTokens.get(id);
    if (!token) throw badRequest(`service token ${id} does not exist`);
    const { record, clientSecret } = this.serviceTokens.rotate(
      token.scope,
      id,
      options.previousSecretExpiresAt === undefined ? undefined : iso(options.previousSecretExpiresAt),
    );
    return { clientSecret, clientSecretVersion: record.client_secret_version };
  }

  /** True while the pair authenticates: current secret, or previous one inside its overlap; enabled, unexpired. */
  isServiceTokenCredentialValid(clientId: string, clientSecret: string): boolean {
    return this.serviceTokens.checkCredential(clientId, clientSecret).ok;
  }

  createAccessApp(input: { accountId: string; name: string; domain?: string; type?: string }): {
    id: string;
    aud: string;
    name: string;
    domain: string;
  } {
    const app = this.access.createApp(input.accountId, {
      name: input.name,
      domain: input.domain ?? `${input.name.toLowerCase().replace(/[^a-z0-9]+/g, '-')}.example.com`,
      ...(input.type !== undefined ? { type: input.type } : {}),
    });
    return { id: app.id, aud: app.aud, name: app.name, domain: app.domain };
  }

  createAccessPolicy(options: CreateAccessPolicyOptions): { id: string } {
    const input = {
      name: options.name,
      decision: options.decision ?? 'non_identity',
      include: options.include,
      ...(options.exclude ? { exclude: options.exclude } : {}),
      ...(options.require ? { require: options.require } : {}),
    };
    if (options.appId !== undefined) {
      return { id: this.access.createAppPolicy(options.accountId, options.appId, input, options.precedence).policy.id };
    }
    return this.batch(() => {
      const policy = this.access.createReusablePolicy(options.accountId, input);
      for (const appId of options.attachTo ?? []) this.access.attachReusable(options.accountId, appId, policy.id);
      return { id: policy.id };
    });
  }

  attachAccessPolicy(input: { accountId: string; appId: string; policyId: string; precedence?: number }): void {
    this.access.attachReusable(input.accountId, input.appId, input.policyId, input.precedence);
  }

  /** Ids and names of the policies (reusable and app-scoped) whose rules name the token. */
  policiesNamingServiceToken(
    accountId: string,
    tokenId: string,
  ): Array<{ id: string; name: string; reusable: boolean }> {
    return this.access
      .policiesNamingServiceToken(accountId, tokenId)
      .map((p) => ({ id: p.id, name: p.name, reusable: p.appId === null }));
  }

  createWorkerScript(input: { accountId: string; name: string; dispatchNamespace?: string }): {
    name: string;
    dispatchNamespace: string | null;
  } {
    const script = this.workers.createScript({
      accountId: input.accountId,
      namespace: input.dispatchNamespace ?? null,
      name: input.name,
    });
    return { name: script.name, dispatchNamespace: script.namespace };
  }

  workerSecretNames(options: ScriptOptions): string[] {
    return this.workers.listSecrets(this.scriptRef(options)).map((s) => s.name);
  }

  workerSecretMatches(options: ScriptOptions & { name: string; value: string }): boolean {
    return this.workers.secretMatches(this.scriptRef(options), options.name, options.value);
  }

  createSecretsStore(input: { accountId: string; name: string }): { id: string; name: string } {
    const store = this.secretsStore.createStore(input.accountId, input.name);
    return { id: store.id, name: store.name };
  }

  secretsStoreSecretMatches(input: { storeId: string; name: string; value: string }): boolean {
    return this.secretsStore.secretMatches(input.storeId, input.name, input.value);
  }

  setSecretsQuota(quota: number): void {
    this.secretsStore.setQuota(quota);
  }

  private scriptRef(options: ScriptOptions): { accountId: string; namespace: string | null; name: string } {
    return { accountId: options.accountId, namespace: options.dispatchNamespace ?? null, name: options.scriptName };
  }

  private serviceTokenScope(
    options: CreateServiceTokenOptions,
  ): { kind: 'account'; accountId: string } | { kind: 'zone'; zoneId: string } {
    if (options.accountId !== undefined && options.zoneId === undefined) {
      this.accounts.requireAccount(options.accountId);
      return { kind: 'account', accountId: options.accountId };
    }
    if (options.zoneId !== undefined && options.accountId === undefined) {
      this.accounts.requireZone(options.zoneId);
      return { kind: 'zone', zoneId: options.zoneId };
    }
    throw badRequest('give exactly one of accountId or zoneId');
  }
}
