import { msToNumber } from '@temporalio/common';
import { z } from 'zod';
import { githubScopeOf } from './github-scope';

const DEFAULT_NAMES = { clientId: 'CF_ACCESS_CLIENT_ID', clientSecret: 'CF_ACCESS_CLIENT_SECRET' } as const;

/** Where the two halves of the credential go inside one store (keys, secret names, bindings). */
function namePairSchema(name: z.ZodString) {
  return z
    .strictObject({ clientId: name, clientSecret: name })
    .refine((names) => names.clientId !== names.clientSecret, 'clientId and clientSecret must use different names')
    .default(DEFAULT_NAMES);
}

const envKey = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_.-]*$/, 'letters, digits, "_", "." and "-", not starting with a digit');
const kubernetesKey = z.string().regex(/^[-._a-zA-Z0-9]+$/, "letters, digits, '-', '_' or '.'");
const githubSecretName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'letters, digits and "_", not starting with a digit')
  .refine((name) => !/^GITHUB_/i.test(name), 'must not start with GITHUB_');
const bindingName = z.string().regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'a JavaScript identifier');
const secretsStoreName = z.string().regex(/^[A-Za-z0-9_-]+$/, 'letters, digits, "_" and "-"');

export const fileTargetSchema = z.strictObject({
  kind: z.literal('file'),
  path: z.string().min(1),
  format: z.enum(['env', 'json']).default('env'),
  keys: namePairSchema(envKey),
});

/**
 * The longest `rolloutTimeout`. Verify waits for rollouts inside the verifyStore activity, whose
 * attempts all fit in `verification.scheduleToCloseTimeout` (3 minutes, src/workflows/activity-options.ts),
 * retried at most 10 s apart: 160 s leaves the last poll room to fail with RolloutFailed before
 * the activity's own deadline would (test/stores/kubernetes-rollout.test.ts checks the arithmetic).
 */
export const LONGEST_ROLLOUT_TIMEOUT_MS = 160_000;

const rolloutTimeoutSchema = z.string().refine(
  (value) => {
    try {
      const ms = msToNumber(value as Parameters<typeof msToNumber>[0]);
      return ms > 0 && ms <= LONGEST_ROLLOUT_TIMEOUT_MS;
    } catch {
      return false;
    }
  },
  `must be a positive duration of at most ${LONGEST_ROLLOUT_TIMEOUT_MS / 1000}s, such as "90s"`,
);

/** Without `rolloutTimeout`: long enough for a few pods to restart, short enough to fit LONGEST_ROLLOUT_TIMEOUT_MS. */
export const DEFAULT_ROLLOUT_TIMEOUT = '150s';

const kubernetesName = z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'a Kubernetes object name');

/** A workload that reads the Secret: restarted (rolled out) after each write, and waited for by verify. */
export const kubernetesConsumerSchema = z.strictObject({
  kind: z.enum(['Deployment', 'StatefulSet', 'DaemonSet']),
  name: kubernetesName,
  /** Defaults to the Secret's namespace. */
  namespace: kubernetesName.optional(),
});

export const kubernetesTargetSchema = z.strictObject({
  kind: z.literal('kubernetes'),
  namespace: z.string().min(1),
  /** The Secret's name. */
  name: z.string().min(1),
  keys: namePairSchema(kubernetesKey),
  /** A kubeconfig file; without it: in-cluster config, else KUBECONFIG / ~/.kube/config. */
  kubeconfig: z.string().min(1).optional(),
  context: z.string().min(1).optional(),
  /** Workloads that read the Secret at start-up: each write rolls them out (kubernetes-rollout.ts). */
  restart: z.array(kubernetesConsumerSchema).min(1).optional(),
  /** How long verify waits for every rollout to complete before the write counts as failed (default 150s). */
  rolloutTimeout: rolloutTimeoutSchema.optional(),
});

export const githubTargetSchema = z
  .strictObject({
    kind: z.literal('github'),
    owner: z.string().min(1).optional(),
    repo: z.string().min(1).optional(),
    environment: z.string().min(1).optional(),
    org: z.string().min(1).optional(),
    /** Organization secrets only; GitHub requires it on every organization PUT. */
    visibility: z.enum(['all', 'private', 'selected']).optional(),
    selectedRepositoryIds: z.array(z.number().int().positive()).optional(),
    names: namePairSchema(githubSecretName),
    /** Name of the environment variable that holds the GitHub token (never the token). */
    tokenEnv: z.string().min(1).default('GITHUB_TOKEN'),
    baseUrl: z.url().optional(),
  })
  .superRefine((target, ctx) => {
    const scope = githubScopeOf(target);
    if ('problem' in scope) ctx.addIssue({ code: 'custom', message: scope.problem });
  });

export const workersSecretTargetSchema = z.strictObject({
  kind: z.literal('workers-secret'),
  /** Defaults to the account that owns the service token. */
  accountId: z.string().min(1).optional(),
  script: z.string().min(1),
  /** Set for a Workers for Platforms script inside a dispatch namespace. */
  dispatchNamespace: z.string().min(1).optional(),
  names: namePairSchema(bindingName),
});

export const secretsStoreTargetSchema = z.strictObject({
  kind: z.literal('secrets-store'),
  accountId: z.string().min(1).optional(),
  storeId: z.string().min(1),
  names: namePairSchema(secretsStoreName),
  scopes: z
    .array(z.enum(['workers', 'ai_gateway', 'dex', 'access', 'containers', 'websearch']))
    .min(1)
    .default(['workers']),
});

export const propagationTargetSchema = z.discriminatedUnion('kind', [
  fileTargetSchema,
  kubernetesTargetSchema,
  githubTargetSchema,
  workersSecretTargetSchema,
  secretsStoreTargetSchema,
]);

export const fingerprintSchema = z.string().regex(/^sha256:[0-9a-f]{16}$/);

/**
 * What a store holds now, as the best evidence it can give. Only file and Kubernetes stores can
 * read the value back; GitHub, Workers and Secrets Store never return a secret, so for them the
 * evidence is weaker and says so, letting verification compare like with like instead of
 * pretending every store proved its value:
 * - `fingerprint`: computed from the value the store holds (null: nothing, or only half of it);
 * - `recorded-fingerprint`: a fingerprint we wrote beside the value in the same request
 *   (Secrets Store `comment`); it proves our last write, not that nobody changed the value since;
 * - `written-at`: when the secrets were last written (GitHub `updated_at`, the older of the two);
 * - `presence`: only that both secrets exist (Workers script secrets expose nothing else).
 */
export const readBackSchema = z.discriminatedUnion('evidence', [
  z.strictObject({ evidence: z.literal('fingerprint'), fingerprint: fingerprintSchema.nullable() }),
  z.strictObject({ evidence: z.literal('recorded-fingerprint'), fingerprint: fingerprintSchema.nullable() }),
  z.strictObject({ evidence: z.literal('written-at'), writtenAt: z.iso.datetime({ offset: true }).nullable() }),
  z.strictObject({ evidence: z.literal('presence'), present: z.boolean() }),
]);

export const writeReceiptSchema = z.strictObject({
  /** The store's label. */
  store: z.string(),
  /** Fingerprint of the credential written. */
  fingerprint: fingerprintSchema,
  /** False only when a readable store already held this credential and nothing was written. */
  changed: z.boolean(),
  /** What readBack() reports while the store still holds this write. */
  expected: readBackSchema,
});
