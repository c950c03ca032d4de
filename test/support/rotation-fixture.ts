import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Octokit } from '@octokit/rest';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { createStore, propagationTargetSchema } from '../../src/stores';
import type { RotationResult } from '../../src/workflows/rotation/rotate-service-token';
import type { WorkflowHandle } from '@temporalio/client';
import { rotationWorkflowId } from '../../src/inventory';
import { startGithubFake, type GithubFake } from '../fakes/github-api';
import { kubeConfigFor, startKubernetesFake, type KubernetesFake } from '../fakes/kubernetes-api';
import { startStack, type Stack } from './stack';

export interface SeededToken {
  name: string;
  id: string;
  clientId: string;
  clientSecret: string;
}

export interface RotationFixture {
  stack: Stack;
  k8s: KubernetesFake;
  github: GithubFake;
  dir: string;
  accountId: string;
  appId: string;
  probeUrl: string;
  tokens: Record<string, SeededToken>;
  /** What the file store of a token holds now. */
  fileCredential(name: string): { clientId: string; clientSecret: string };
  probe(credential: { clientId: string; clientSecret: string }): Promise<number>;
  waitForRotation(workflowId: string): Promise<RotationResult>;
  /** Starts a manual rotation of a token straight on Temporal, as the API would (actor api:test-client). */
  startRotation(name: string): Promise<WorkflowHandle>;
  close(): Promise<void>;
}

export interface TokenSpec {
  name: string;
  strategy: 'rotate-secret' | 'replace';
  propagationWait?: string;
  overlap?: string;
  /** All five kinds by default; `file` only for lighter tests; `file+kubernetes` for rollout tests. */
  stores?: 'all' | 'file' | 'file+kubernetes';
  /**
   * The kubernetes target's consumers (`restart:`) and `rolloutTimeout`. The fixture seeds each
   * workload in the Kubernetes fake (namespace `apps`) before the stores are adopted.
   */
  kubernetes?: {
    restart: Array<{ kind: 'Deployment' | 'StatefulSet' | 'DaemonSet'; name: string }>;
    rolloutTimeout?: string;
  };
  probe?: boolean;
  expiresAt?: Date;
  renewBefore?: string;
  renewAction?: 'rotate' | 'refresh';
}

/**
 * An account with an Access app whose policy names every token, each token's credential
 * already written to its stores and recorded as current — the state after adoption.
 */
export async function startRotationFixture(
  specs: TokenSpec[],
  options: {
    simulator?: Parameters<typeof startStack>[0]['simulator'];
    /** The emergency worker in a thread of its own, as src/worker.ts runs it (file stores only). */
    emergencyThread?: boolean;
  } = {},
): Promise<RotationFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-rotation-'));
  const k8s = await startKubernetesFake();
  const github = await startGithubFake();
  github.add({ owner: 'acme', repo: 'deploy', environment: 'production' });
  const tokens: Record<string, SeededToken> = {};
  let accountId = '';
  let appId = '';
  let probeUrl = '';
  let scriptName = '';
  let storeId = '';

  const targetsFor = (spec: TokenSpec) => {
    const file = { kind: 'file', path: path.join(dir, `${spec.name}.env`) };
    if (spec.stores === 'file') return [file];
    const kubernetes = { kind: 'kubernetes', namespace: 'apps', name: `${spec.name}-access`, ...spec.kubernetes };
    if (spec.stores === 'file+kubernetes') return [file, kubernetes];
    return [
      file,
      kubernetes,
      {
        kind: 'github',
        owner: 'acme',
        repo: 'deploy',
        environment: 'production',
        names: {
          clientId: `${spec.name.toUpperCase().replace(/-/g, '_')}_ID`,
          clientSecret: `${spec.name.toUpperCase().replace(/-/g, '_')}_SECRET`,
        },
        baseUrl: github.url,
      },
      {
        kind: 'workers-secret',
        script: scriptName,
        names: {
          clientId: `${spec.name.replace(/-/g, '_')}_id`,
          clientSecret: `${spec.name.replace(/-/g, '_')}_secret`,
        },
      },
      {
        kind: 'secrets-store',
        storeId,
        names: {
          clientId: `${spec.name.replace(/-/g, '_')}_id`,
          clientSecret: `${spec.name.replace(/-/g, '_')}_secret`,
        },
      },
    ];
  };

  const stack = await startStack({
    simulator: { seed: 'demo', ...options.simulator },
    inventory: (sim: RunningSimulator) => {
      accountId = sim.demo!.accountId;
      scriptName = sim.demo!.workerScript.name;
      storeId = sim.demo!.secretsStore.id;
      const app = sim.state.createAccessApp({ accountId, name: 'rotation tests', domain: 'rotation.test.example' });
      appId = app.id;
      probeUrl = sim.probeUrl(app.id);
      for (const spec of specs) {
        const created = sim.state.createServiceToken({
          accountId,
          name: spec.name,
          duration: '8760h',
          ...(spec.expiresAt ? { expiresAt: spec.expiresAt } : {}),
        });
        tokens[spec.name] = { name: spec.name, ...created };
      }
      sim.state.createAccessPolicy({
        accountId,
        name: 'rotation tests',
        decision: 'non_identity',
        include: specs.map((s) => ({ service_token: { token_id: tokens[s.name]!.id } })),
        attachTo: [app.id],
      });
      return {
        accounts: [
          {
            id: accountId,
            serviceTokens: specs.map((spec) => ({
              name: spec.name,
              strategy: spec.strategy,
              overlap: spec.overlap ?? '10m',
              propagationWait: spec.propagationWait ?? '1s',
              ...(spec.renewBefore ? { renewBefore: spec.renewBefore } : {}),
              ...(spec.renewAction ? { renewAction: spec.renewAction } : {}),
              ...(spec.probe === false ? {} : { probeUrl }),
              targets: targetsFor(spec),
            })),
          },
        ],
      };
    },
    secretEnv: () => ({ GITHUB_TOKEN: github.token }),
    storeDeps: () => ({
      kubeConfig: () => kubeConfigFor(k8s.url),
      github: ({ token, baseUrl }) => new Octokit({ auth: token, baseUrl: baseUrl ?? github.url }),
    }),
  });

  for (const spec of specs)
    for (const consumer of spec.kubernetes?.restart ?? []) k8s.apps.seed(consumer.kind, 'apps', consumer.name);
  // Adoption: every store holds the token's current credential, and token-warden knows it.
  for (const spec of specs) {
    const token = tokens[spec.name]!;
    const credential = { clientId: token.clientId, clientSecret: token.clientSecret };
    const entry = stack.inventory.accounts[0]!.serviceTokens.find((t) => t.name === spec.name)!;
    for (const raw of entry.targets)
      await createStore(propagationTargetSchema.parse(raw), stack.storeDeps, { accountId }).write(credential);
    await stack.pending.setCurrent({ accountId, tokenName: spec.name }, credential);
  }
  await stack.startWorkers({ emergencyThread: options.emergencyThread });

  return {
    stack,
    k8s,
    github,
    dir,
    accountId,
    appId,
    probeUrl,
    tokens,
    fileCredential(name) {
      const text = readFileSync(path.join(dir, `${name}.env`), 'utf8');
      const value = (key: string) => new RegExp(`^${key}=(.*)$`, 'm').exec(text)?.[1] ?? '';
      return { clientId: value('CF_ACCESS_CLIENT_ID'), clientSecret: value('CF_ACCESS_CLIENT_SECRET') };
    },
    async probe(credential) {
      const response = await fetch(probeUrl, {
        headers: { 'CF-Access-Client-Id': credential.clientId, 'CF-Access-Client-Secret': credential.clientSecret },
      });
      await response.body?.cancel();
      return response.status;
    },
    waitForRotation: (workflowId) => stack.client.workflow.getHandle(workflowId).result() as Promise<RotationResult>,
    startRotation: (name) =>
      stack.client.workflow.start('rotateServiceToken', {
        taskQueue: stack.taskQueue,
        workflowId: rotationWorkflowId(accountId, name),
        args: [{ accountId, tokenName: name, mode: 'manual', trigger: { actor: 'api:test-client' } }],
      }),
    async close() {
      await stack.close();
      await k8s.close();
      await github.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
