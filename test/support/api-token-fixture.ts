import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createStore, propagationTargetSchema } from '../../src/stores';
import { apiTokenTargetSchema } from '../../src/api-token-rotate-config';
import type { RotationResult } from '../../src/workflows/rotation/rotate-service-token';
import { kubeConfigFor, startKubernetesFake, type KubernetesFake } from '../fakes/kubernetes-api';
import { startStack, type Stack } from './stack';

export interface ApiTokenSpec {
  name: string;
  kind: 'account' | 'user';
  strategy?: 'successor' | 'roll';
  /** File target always; a Kubernetes Secret too unless `file`. */
  stores?: 'file' | 'file+kubernetes';
  expiresInDays?: number;
  renewBefore?: string;
  /** `rotate.every`; `issuedDaysAgo` backdates the token's issue time in Cloudflare. */
  every?: string;
  issuedDaysAgo?: number;
  /** token-warden's own token (the simulator's warden user token): its file is where the worker reads its token. */
  self?: boolean;
  /** The inventory's requiredPermissions (default: Workers Scripts Write). */
  requires?: string[];
}

export interface SeededApiToken {
  id: string;
  value: string;
}

export interface ApiTokenFixture {
  stack: Stack;
  k8s: KubernetesFake;
  accountId: string;
  tokens: Record<string, SeededApiToken>;
  /** The value a token's file store holds now (what a consumer reading it would use). */
  fileValue(name: string): string;
  fileTokenId(name: string): string;
  /** What Cloudflare answers a consumer presenting `value` to the verify endpoint of its kind. */
  verify(name: string, value: string): Promise<number>;
  /** The token as Cloudflare keeps it, policies without their ids. */
  shape(id: string): { policies: unknown[]; requestIp: unknown } | undefined;
  waitFor(workflowId: string): Promise<RotationResult>;
  close(): Promise<void>;
}

/** Accounts' API tokens with `rotate:`, each value already in its stores and recorded as current. */
export async function startApiTokenFixture(specs: ApiTokenSpec[]): Promise<ApiTokenFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-api-token-'));
  const k8s = await startKubernetesFake();
  const tokens: Record<string, SeededApiToken> = {};
  const kinds = Object.fromEntries(specs.map((s) => [s.name, s.kind]));
  let accountId = '';
  const fileOf = (name: string) => path.join(dir, `${name}.env`);
  const self = specs.find((s) => s.self);
  const stack = await startStack({
    simulator: { seed: 'demo' },
    ...(self ? { wardenTokenFile: fileOf(self.name) } : {}),
    inventory: (sim) => {
      accountId = sim.demo!.accountId;
      for (const spec of specs) {
        if (spec.self) {
          const { id, value } = sim.demo!.apiTokens.warden;
          tokens[spec.name] = { id, value: value! };
          writeFileSync(fileOf(spec.name), `${value}\n`, { mode: 0o600 });
          continue;
        }
        tokens[spec.name] = sim.state.createApiToken({
          owner: spec.kind === 'user' ? 'user' : { accountId },
          name: `${spec.name} (hand-made)`,
          accountId,
          permissions: ['Workers Scripts Write', 'Account Settings Read'],
          requestIp: { in: ['192.0.2.0/24', '127.0.0.1/32', '::1/128'], not_in: ['192.0.2.7/32'] },
          expiresOn: new Date(Date.now() + (spec.expiresInDays ?? 200) * 86_400_000),
        });
        if (spec.issuedDaysAgo)
          sim.state.apiTokens.get(tokens[spec.name]!.id)!.issued_on = new Date(
            Date.now() - spec.issuedDaysAgo * 86_400_000,
          ).toISOString();
      }
      return {
        accounts: [
          {
            id: accountId,
            apiTokens: specs.map((spec) => ({
              name: spec.name,
              kind: spec.kind,
              secretFrom: { file: fileOf(spec.name) },
              requiredPermissions: spec.requires ?? ['Workers Scripts Write'],
              self: spec.self ?? false,
              rotate: {
                strategy: spec.strategy ?? 'successor',
                propagationWait: '1s',
                ...(spec.renewBefore ? { renewBefore: spec.renewBefore } : {}),
                ...(spec.every ? { every: spec.every } : {}),
                targets: [
                  { kind: 'file', path: fileOf(spec.name) },
                  ...(spec.stores === 'file' ? [] : [{ kind: 'kubernetes', namespace: 'apps', name: spec.name }]),
                ],
              },
            })),
          },
        ],
      };
    },
    storeDeps: () => ({ kubeConfig: () => kubeConfigFor(k8s.url) }),
  });

  // Adoption: every store holds the token's value, and token-warden knows it.
  for (const spec of specs) {
    const { id, value } = tokens[spec.name]!;
    const credential = { clientId: id, clientSecret: value };
    const entry = stack.inventory.accounts[0]!.apiTokens.find((t) => t.name === spec.name)!;
    for (const raw of entry.rotate!.targets)
      await createStore(propagationTargetSchema.parse(apiTokenTargetSchema.parse(raw)), stack.storeDeps, {
        accountId,
      }).write(credential);
    // token-warden's own token is recorded by its first rotation: an operator only points it at the file.
    if (!spec.self)
      await stack.pending.setCurrent({ accountId, tokenName: spec.name, credential: 'api-token' }, credential);
  }
  await stack.startWorkers();

  const fileKey = (name: string, key: string) =>
    new RegExp(`^${key}=(.*)$`, 'm').exec(readFileSync(fileOf(name), 'utf8'))?.[1] ?? '';
  return {
    stack,
    k8s,
    accountId,
    tokens,
    fileValue: (name) => fileKey(name, 'CLOUDFLARE_API_TOKEN'),
    fileTokenId: (name) => fileKey(name, 'CLOUDFLARE_API_TOKEN_ID'),
    async verify(name, value) {
      const url =
        kinds[name] === 'user'
          ? `${stack.sim.baseURL}/user/tokens/verify`
          : `${stack.sim.baseURL}/accounts/${accountId}/tokens/verify`;
      const response = await fetch(url, { headers: { authorization: `Bearer ${value}` } });
      await response.body?.cancel();
      return response.status;
    },
    shape(id) {
      const token = stack.sim.state.apiTokens.get(id);
      if (!token) return undefined;
      const policies = token.policies.map((p) => ({
        effect: p.effect,
        groups: p.permission_groups,
        resources: p.resources,
      }));
      return { policies, requestIp: token.requestIp };
    },
    waitFor: (workflowId) => stack.client.workflow.getHandle(workflowId).result() as Promise<RotationResult>,
    async close() {
      await stack.close();
      await k8s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
