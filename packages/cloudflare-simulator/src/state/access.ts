import { badRequest, CloudflareApiError, CODE, notFound } from '../errors';
import { newAud, newUuid } from '../ids';
import type { AccountsRepo } from './accounts';
import type { ServiceTokensRepo } from './service-tokens';
import type { SimStore } from './store';
import type { AccessAppRecord, AccessPolicyRecord, AccessRule } from './types';

export type AccessDecision = AccessPolicyRecord['decision'];

export interface AccessPolicyInput {
  name: string;
  decision: AccessDecision;
  include: AccessRule[];
  exclude?: AccessRule[];
  require?: AccessRule[];
  session_duration?: string;
  /** Other policy settings (approval_groups, isolation_required, …): kept and echoed. */
  extra?: Record<string, unknown>;
}

export interface AccessAppInput {
  name: string;
  domain: string;
  type?: string;
  session_duration?: string;
}

export interface AppPolicyEntry {
  policy: AccessPolicyRecord;
  precedence: number;
}

const accessNotFound = (what: string): CloudflareApiError => notFound(what, CODE.accessNotFound);
const accessInvalid = (message: string): CloudflareApiError => badRequest(message, CODE.accessInvalid);

/**
 * Access applications and policies. A policy with appId null is reusable and can be
 * linked to many apps; an app-scoped policy belongs to exactly one app. Each app keeps
 * an ordered list of links (policy id + precedence) covering both kinds.
 */
export class AccessRepo {
  constructor(
    private readonly store: SimStore,
    private readonly accounts: AccountsRepo,
    private readonly serviceTokens: ServiceTokensRepo,
  ) {}

  createApp(accountId: string, input: AccessAppInput): AccessAppRecord {
    this.accounts.requireAccount(accountId);
    const now = this.store.nowIso();
    const app: AccessAppRecord = {
      id: newUuid(),
      accountId,
      name: input.name,
      domain: input.domain,
      type: input.type ?? 'self_hosted',
      aud: newAud(),
      session_duration: input.session_duration ?? '24h',
      policies: [],
      created_at: now,
      updated_at: now,
    };
    this.store.mutate((data) => {
      data.accessApps[app.id] = app;
    });
    return app;
  }

  listApps(accountId: string): AccessAppRecord[] {
    return Object.values(this.store.data.accessApps).filter((a) => a.accountId === accountId);
  }

  app(id: string): AccessAppRecord | undefined {
    return this.store.data.accessApps[id];
  }

  requireApp(accountId: string, appId: string): AccessAppRecord {
    const app = this.app(appId);
    if (!app || app.accountId !== accountId) throw accessNotFound(`Access application ${appId}`);
    return app;
  }

  createReusablePolicy(accountId: string, input: AccessPolicyInput): AccessPolicyRecord {
    this.accounts.requireAccount(accountId);
    this.validateRules(accountId, input);
    const policy = this.newPolicy(accountId, null, input);
    this.store.mutate((data) => {
      data.accessPolicies[policy.id] = policy;
    });
    return policy;
  }

  /** An app-scoped policy, linked to its app at `precedence` (default: after the others). */
  createAppPolicy(accountId: string, appId: string, input: AccessPolicyInput, precedence?: number): AppPolicyEntry {
    const app = this.requireApp(accountId, appId);
    this.validateRules(accountId, input);
    const chosen = this.choosePrecedence(app, precedence);
    const policy = this.newPolicy(accountId, appId, input);
    this.store.mutate((data) => {
      data.accessPolicies[policy.id] = policy;
      app.policies.push({ policyId: policy.id, precedence: chosen });
      app.updated_at = this.store.nowIso();
    });
    return { policy, precedence: chosen };
  }

  listReusable(accountId: string): AccessPolicyRecord[] {
    return Object.values(this.store.data.accessPolicies).filter((p) => p.accountId === accountId && p.appId === null);
  }

  requireReusable(accountId: string, policyId: string): AccessPolicyRecord {
    const policy = this.store.data.accessPolicies[policyId];
    if (!policy || policy.accountId !== accountId || policy.appId !== null) {
      throw accessNotFound(`Access policy ${policyId}`);
    }
    return policy;
  }

  updateReusable(accountId: string, policyId: string, input: AccessPolicyInput): AccessPolicyRecord {
    const policy = this.requireReusable(accountId, policyId);
    this.validateRules(accountId, input);
    return this.store.mutate(() => this.replacePolicy(policy, input));
  }

  deleteReusable(accountId: string, policyId: string): void {
    this.requireReusable(accountId, policyId);
    const count = this.appCount(policyId);
    if (count > 0) throw accessInvalid(`Access policy ${policyId} is used by ${count} application(s); detach it first`);
    this.store.mutate((data) => {
      delete data.accessPolicies[policyId];
    });
  }

  /** Links an existing reusable policy to an app. */
  attachReusable(accountId: string, appId: string, policyId: string, precedence?: number): AppPolicyEntry {
    const app = this.requireApp(accountId, appId);
    const policy = this.requireReusable(accountId, policyId);
    if (app.policies.some((l) => l.policyId === policyId))
      throw accessInvalid(`policy ${policyId} is already attached`);
    const chosen = this.choosePrecedence(app, precedence);
    this.store.mutate(() => {
      app.policies.push({ policyId, precedence: chosen });
      app.updated_at = this.store.nowIso();
    });
    return { policy, precedence: chosen };
  }

  detach(accountId: string, appId: string, policyId: string): void {
    const app = this.requireApp(accountId, appId);
    this.store.mutate((data) => {
      app.policies = app.policies.filter((l) => l.policyId !== policyId);
      const policy = data.accessPolicies[policyId];
      if (policy?.appId === appId) delete data.accessPolicies[policyId];
      app.updated_at = this.store.nowIso();
    });
  }

  /** The app's policies (app-scoped and reusable) in precedence order. */
  appPolicies(app: AccessAppRecord): AppPolicyEntry[] {
    const entries: AppPolicyEntry[] = [];
    for (const link of [...app.policies].sort((a, b) => a.precedence - b.precedence)) {
      const policy = this.store.data.accessPolicies[link.policyId];
      if (policy) entries.push({ policy, precedence: link.precedence });
    }
    return entries;
  }

  requireAppPolicy(accountId: string, appId: string, policyId: string): AppPolicyEntry {
    const app = this.requireApp(accountId, appId);
    const entry = this.appPolicies(app).find((e) => e.policy.id === policyId);
    if (!entry) throw accessNotFound(`Access policy ${policyId} on application ${appId}`);
    return entry;
  }

  /** Reusable policies are edited only through /access/policies/{id}, as upstream says. */
  updateAppPolicy(
    accountId: string,
    appId: string,
    policyId: string,
    input: AccessPolicyInput,
    precedence?: number,
  ): AppPolicyEntry {
    const entry = this.requireAppPolicy(accountId, appId, policyId);
    if (entry.policy.appId === null) {
      throw accessInvalid(
        `Policy ${policyId} is a reusable policy; update it with PUT /accounts/${accountId}/access/policies/${policyId}`,
      );
    }
    this.validateRules(accountId, input);
    const app = this.requireApp(accountId, appId);
    if (precedence !== undefined && app.policies.some((l) => l.policyId !== policyId && l.precedence === precedence)) {
      throw accessInvalid(`precedence ${precedence} is already used by another policy of this application`);
    }
    return this.store.mutate(() => {
      this.replacePolicy(entry.policy, input);
      const link = app.policies.find((l) => l.policyId === policyId);
      if (link && precedence !== undefined) link.precedence = precedence;
      return { policy: entry.policy, precedence: link?.precedence ?? entry.precedence };
    });
  }

  appCount(policyId: string): number {
    return Object.values(this.store.data.accessApps).filter((a) => a.policies.some((l) => l.policyId === policyId))
      .length;
  }

  /** Every policy in the account whose rules name this service token. */
  policiesNamingServiceToken(accountId: string, tokenId: string): AccessPolicyRecord[] {
    return Object.values(this.store.data.accessPolicies).filter(
      (p) =>
        p.accountId === accountId && [...p.include, ...p.require, ...p.exclude].some((r) => ruleTokenId(r) === tokenId),
    );
  }

  private newPolicy(accountId: string, appId: string | null, input: AccessPolicyInput): AccessPolicyRecord {
    const now = this.store.nowIso();
    return {
      id: newUuid(),
      accountId,
      appId,
      name: input.name,
      decision: input.decision,
      include: structuredClone(input.include),
      exclude: structuredClone(input.exclude ?? []),
      require: structuredClone(input.require ?? []),
      session_duration: input.session_duration ?? '24h',
      extra: structuredClone(input.extra ?? {}),
      created_at: now,
      updated_at: now,
    };
  }

  private replacePolicy(policy: AccessPolicyRecord, input: AccessPolicyInput): AccessPolicyRecord {
    policy.name = input.name;
    policy.decision = input.decision;
    policy.include = structuredClone(input.include);
    policy.exclude = structuredClone(input.exclude ?? []);
    policy.require = structuredClone(input.require ?? []);
    policy.session_duration = input.session_duration ?? policy.session_duration;
    policy.extra = structuredClone(input.extra ?? {});
    policy.updated_at = this.store.nowIso();
    return policy;
  }

  private choosePrecedence(app: AccessAppRecord, requested?: number): number {
    if (requested === undefined) return Math.max(0, ...app.policies.map((l) => l.precedence)) + 1;
    if (app.policies.some((l) => l.precedence === requested)) {
      throw accessInvalid(`precedence ${requested} is already used by another policy of this application`);
    }
    return requested;
  }

  /** Rules have exactly one kind; a service_token rule must name a token of this account. */
  private validateRules(accountId: string, input: AccessPolicyInput): void {
    if (input.name.trim() === '') throw accessInvalid('name: must not be empty');
    if (input.include.length === 0) throw accessInvalid('include: at least one rule is required');
    for (const rule of [...input.include, ...(input.exclude ?? []), ...(input.require ?? [])]) {
      if (Object.keys(rule).length !== 1) throw accessInvalid('each rule must have exactly one rule type');
      if ('service_token' in rule) {
        const tokenId = ruleTokenId(rule);
        if (tokenId === undefined) throw accessInvalid('service_token.token_id is required');
        const token = this.serviceTokens.get(tokenId);
        const tokenAccount =
          token?.scope.kind === 'account'
            ? token.scope.accountId
            : token
              ? this.accounts.zone(token.scope.zoneId)?.accountId
              : undefined;
        if (tokenAccount !== accountId) throw accessInvalid(`service token ${tokenId} does not exist in this account`);
      }
    }
  }
}

/** The token id a `{service_token: {token_id}}` rule names, if it is one. */
export function ruleTokenId(rule: AccessRule): string | undefined {
  const inner = rule['service_token'];
  if (typeof inner !== 'object' || inner === null || !('token_id' in inner)) return undefined;
  return typeof inner.token_id === 'string' ? inner.token_id : undefined;
}
