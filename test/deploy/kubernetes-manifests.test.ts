import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { msToNumber } from '@temporalio/common';
import { environmentSchema, parseInventory } from '../../src/config';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_MAX_AGE_MS } from '../../src/runtime/worker-heartbeat';
import {
  manifestSchema,
  configMapSchema,
  serviceSchema,
  roleSchema,
  roleBindingSchema,
  type Deployment,
} from './kubernetes-objects';
import {
  NAMESPACE,
  all,
  api,
  containerOf,
  dir,
  documents,
  envNames,
  find,
  inventoryText,
  kustomization,
  literalEnv,
  podInventory,
  rbacVerbsPicked,
  read,
  root,
  worker,
} from './kubernetes-deploy';
import { KUBERNETES_VERSIONS, kubeconform, kubernetesSchemaLocation, run } from './validators';

/*
 * No cluster runs here: the manifests are checked by shape against the code they start — the
 * entry points, the environment schema, the inventory schema, the routes the probes hit and the
 * Kubernetes calls the Secret store makes — and by kubeconform against the Kubernetes API's own
 * schemas, offline (tools/deploy-validators/install.sh installs both). token-warden's own token
 * (its mounted Secret, its Role, its `self: true` entry): kubernetes-self-token.test.ts.
 */

const CLUSTER_SCOPED = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding']);
/**
 * Variables that hold secrets: in the pods only through secretKeyRef to the Secret `token-warden`.
 * CLOUDFLARE_API_TOKEN is in none (a mounted file instead), and never a literal.
 */
const REQUIRED_SECRETS = ['TOKEN_WARDEN_ENCRYPTION_KEY', 'DATABASE_URL'];
const OPTIONAL_SECRETS = ['CLOUDFLARE_ACCOUNT_TOKEN', 'CLOUDFLARE_USER_TOKEN', 'TEMPORAL_API_KEY'];
const SECRET_NAMES = [
  ...REQUIRED_SECRETS,
  'CLOUDFLARE_API_TOKEN',
  ...OPTIONAL_SECRETS,
  'CLIENT_AUTH_TOKEN',
  'TOKEN_WARDEN_PREVIOUS_KEYS',
  'API_CLIENT_TOKENS',
];

/** Paths of literal values for secret names anywhere in a parsed manifest. */
function secretLiterals(value: unknown, at: string): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => secretLiterals(item, `${at}.${i}`));
  if (!value || typeof value !== 'object') return [];
  const named =
    'name' in value && typeof value.name === 'string' && SECRET_NAMES.includes(value.name) && 'value' in value
      ? [`${at}: ${value.name}`]
      : [];
  return [
    ...named,
    ...Object.entries(value).flatMap(([key, item]) =>
      SECRET_NAMES.includes(key) && typeof item !== 'object' ? [`${at}.${key}`] : secretLiterals(item, `${at}.${key}`),
    ),
  ];
}

function containerPort(deployment: Deployment, port: string | number): number | undefined {
  return typeof port === 'number'
    ? port
    : containerOf(deployment).ports.find((candidate) => candidate.name === port)?.containerPort;
}

describe('deploy/kubernetes', () => {
  it('lists every manifest of the folder in kustomization.yaml, and nothing else', () => {
    const files = readdirSync(dir).filter((file) => file !== 'kustomization.yaml');
    expect([...kustomization.resources].sort()).toEqual(files.sort());
    // `kubectl apply -k` rewrites the image only where the name matches.
    const images = new Set([worker, api].map((deployment) => containerOf(deployment).image.split(':')[0]));
    expect(kustomization.images.map((image) => image.name)).toEqual([...images]);
  });

  it('names every object and keeps it in the token-warden namespace, except RBAC for target namespaces', () => {
    expect(documents.map(({ doc }) => doc.kind)).toEqual(
      expect.arrayContaining([
        'Namespace',
        'ServiceAccount',
        'Role',
        'RoleBinding',
        'ConfigMap',
        'Deployment',
        'Service',
      ]),
    );
    expect(find(manifestSchema, 'Namespace', NAMESPACE).metadata.namespace).toBeUndefined();
    const ids = documents.map(({ doc }) => `${doc.kind}/${doc.metadata.namespace ?? ''}/${doc.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
    for (const { file, doc } of documents) {
      if (CLUSTER_SCOPED.has(doc.kind)) continue;
      if (doc.kind === 'Role' || doc.kind === 'RoleBinding') expect(doc.metadata.namespace).toBeDefined();
      else
        expect(`${file}: ${doc.kind}/${doc.metadata.name} in ${doc.metadata.namespace}`).toBe(
          `${file}: ${doc.kind}/${doc.metadata.name} in ${NAMESPACE}`,
        );
    }
    // No wider grant than a namespace's Secrets.
    expect(documents.filter(({ doc }) => doc.kind.startsWith('Cluster'))).toEqual([]);
  });

  it('runs the worker and the API as separate Deployments from the built entry points', () => {
    expect(containerOf(worker).command).toEqual(['node', 'dist/src/worker.js']);
    expect(containerOf(api).command).toEqual(['node', 'dist/src/api/server.js']);
    const tsconfig = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { rootDir: string } };
    expect(tsconfig.compilerOptions.rootDir).toBe('.'); // src/worker.ts builds to dist/src/worker.js
    for (const deployment of [worker, api]) {
      const built = containerOf(deployment).command[1]!;
      expect(existsSync(path.join(root, built.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
      expect(literalEnv(deployment, 'NODE_ENV')).toBe('production'); // the prebuilt workflow bundle
    }
    // Each Deployment's selector picks its own pods and not the other's.
    const selects = (selector: Deployment, pods: Deployment) =>
      Object.entries(selector.spec.selector.matchLabels).every(
        ([key, value]) => pods.spec.template.metadata.labels[key] === value,
      );
    expect([selects(worker, worker), selects(api, api), selects(worker, api), selects(api, worker)]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('gives both processes what production requires, with names the config knows', () => {
    const known = new Set([
      ...Object.keys(environmentSchema.shape),
      'CLOUDFLARE_ACCOUNT_TOKEN',
      'CLOUDFLARE_USER_TOKEN',
    ]);
    for (const deployment of [worker, api]) {
      const names = envNames(deployment);
      expect(names).toEqual(
        expect.arrayContaining([
          'TEMPORAL_ADDRESS',
          'DATABASE_URL',
          'CLOUDFLARE_API_TOKEN_FILE',
          'TOKEN_WARDEN_ENCRYPTION_KEY',
          'TOKEN_WARDEN_INVENTORY',
        ]),
      );
      for (const name of names) expect(known).toContain(name);
      expect(new Set(names).size).toBe(names.length); // no variable set twice, once shadowing the other
      expect(literalEnv(deployment, 'TEMPORAL_ADDRESS')).toMatch(/^[a-z0-9.-]+:\d+$/);
    }
    expect(envNames(api)).toContain('CLIENT_AUTH_TOKEN');
    // Each process gets only the secrets it uses.
    expect(envNames(worker)).not.toContain('CLIENT_AUTH_TOKEN');
    expect(envNames(api)).not.toContain('CLOUDFLARE_ACCOUNT_TOKEN');
    expect(envNames(api)).not.toContain('CLOUDFLARE_USER_TOKEN');
  });

  it('reads every secret from the Secret token-warden by secretKeyRef, never from a literal value', () => {
    for (const deployment of [worker, api]) {
      for (const entry of containerOf(deployment).env.filter((variable) => SECRET_NAMES.includes(variable.name))) {
        expect(entry.value).toBeUndefined();
        expect(entry.valueFrom?.secretKeyRef).toEqual({
          name: 'token-warden',
          key: entry.name,
          ...(OPTIONAL_SECRETS.includes(entry.name) ? { optional: true } : {}),
        });
      }
    }
    for (const configMap of all(configMapSchema, 'ConfigMap'))
      for (const key of Object.keys(configMap.data)) expect(SECRET_NAMES).not.toContain(key);
    // The Secret itself is created by the operator (README), never shipped with values.
    expect(documents.filter(({ doc }) => doc.kind === 'Secret')).toEqual([]);
    // Nor anywhere else in any object: no `{name: SECRET, value: ...}`, no `SECRET: value`.
    expect(documents.flatMap(({ file, doc }) => secretLiterals(doc, file))).toEqual([]);
  });

  it('probes the worker with the heartbeat probe the image builds, within what the heartbeat allows', () => {
    const container = containerOf(worker);
    const probes = [container.startupProbe, container.livenessProbe, container.readinessProbe];
    for (const probe of probes) {
      expect(probe?.exec?.command).toEqual(['node', 'dist/src/worker-probe.js']);
      // Node starts in well under a second, but not always under the default 1 s on a busy node.
      expect(probe?.timeoutSeconds).toBeGreaterThanOrEqual(5);
    }
    expect(existsSync(path.join(root, 'src/worker-probe.ts'))).toBe(true);
    // A fresh heartbeat survives a missed beat; the probe's period does not outrun the file's age.
    expect(HEARTBEAT_MAX_AGE_MS).toBeGreaterThanOrEqual(3 * HEARTBEAT_INTERVAL_MS);
    expect(container.livenessProbe!.periodSeconds! * 1000).toBeGreaterThanOrEqual(HEARTBEAT_INTERVAL_MS);
    // Start-up (migrations, Temporal, schedules, workflow bundle) gets minutes before liveness counts.
    expect(container.startupProbe!.periodSeconds! * container.startupProbe!.failureThreshold!).toBeGreaterThanOrEqual(
      120,
    );
  });

  it('probes /health and /ready on the port the API listens on, and the Service sends traffic there', () => {
    const container = containerOf(api);
    const listening = Number(literalEnv(api, 'PORT'));
    expect(literalEnv(api, 'HOST')).toBe('0.0.0.0');
    expect(container.ports.map((port) => port.containerPort)).toEqual([listening]);
    expect(container.livenessProbe?.httpGet?.path).toBe('/health');
    expect(container.readinessProbe?.httpGet?.path).toBe('/ready');
    for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
      if (probe) expect(containerPort(api, probe.httpGet!.port)).toBe(listening);
    }
    const routes = read('src/api/routes/health.ts');
    expect(routes).toMatch(/app\.get\(\s*'\/health'/);
    expect(routes).toMatch(/app\.get\(\s*'\/ready'/);

    const service = find(serviceSchema, 'Service', 'token-warden-api');
    expect(service.spec.type).toBe('ClusterIP');
    expect(service.spec.selector).toEqual(api.spec.selector.matchLabels);
    expect(service.spec.ports.map((port) => [port.port, containerPort(api, port.targetPort)])).toEqual([
      [80, listening],
    ]);
  });

  it('mounts an inventory the config accepts, read-only where TOKEN_WARDEN_INVENTORY points', () => {
    expect(() => parseInventory(inventoryText, 'inventory', {})).toThrow(/CLOUDFLARE_ACCOUNT_ID is not set/);
    for (const deployment of [worker, api]) {
      // Both processes load it at start-up; ${CLOUDFLARE_ACCOUNT_ID} comes from token-warden-env.
      const inventory = podInventory(deployment);
      expect(inventory.accounts[0]?.id).toBe('stand-in');
      expect(inventory.accounts.flatMap((account) => account.serviceTokens).length).toBeGreaterThan(0);
      const file = literalEnv(deployment, 'TOKEN_WARDEN_INVENTORY')!;
      expect(file).toBe('/config/token-warden.yaml');
      const { volumes } = deployment.spec.template.spec;
      const mount = containerOf(deployment).volumeMounts.find(
        (candidate) => candidate.mountPath === path.posix.dirname(file),
      );
      expect(mount?.readOnly).toBe(true);
      expect(volumes.find((volume) => volume.name === mount?.name)?.configMap).toEqual({
        name: 'token-warden-inventory',
        items: [{ key: 'token-warden.yaml', path: path.posix.basename(file) }],
      });
    }
  });

  it('gives the worker every secret the inventory reads from the environment', () => {
    const inventory = podInventory();
    const sources = inventory.accounts.flatMap((account) => account.apiTokens.map((token) => token.secretFrom));
    const targets = inventory.accounts.flatMap((account) => account.serviceTokens.flatMap((token) => token.targets));
    const fromEnv = [
      ...sources.flatMap((source) => ('env' in source ? [source.env] : [])),
      ...targets.flatMap((target) => (target.kind === 'github' ? [target.tokenEnv] : [])),
    ];
    expect(fromEnv.length).toBeGreaterThan(0);
    const secretRefs = containerOf(worker)
      .env.filter((entry) => entry.valueFrom?.secretKeyRef)
      .map((entry) => entry.name);
    expect(secretRefs).toEqual(expect.arrayContaining(fromEnv));
    // A file target would write into the worker's read-only container.
    expect(targets.filter((target) => target.kind === 'file')).toEqual([]);
  });

  it('lets the worker get, create and update only the Secrets its kubernetes targets name, and get and patch only the workloads they restart', () => {
    const storeVerbs = rbacVerbsPicked('src/stores/kubernetes-store.ts', 'CoreV1Api');
    expect(storeVerbs).toEqual(['create', 'get', 'update']);
    const rolloutVerbs = rbacVerbsPicked('src/stores/kubernetes-rollout.ts', 'AppsV1Api');
    expect(rolloutVerbs).toEqual(['get', 'patch']);

    expect(worker.spec.template.spec.serviceAccountName).toBe('token-warden');
    expect(worker.spec.template.spec.automountServiceAccountToken).not.toBe(false);
    find(manifestSchema, 'ServiceAccount', 'token-warden');
    // The Roles of target namespaces; the one for token-warden's own token: kubernetes-self-token.test.ts.
    const roles = all(roleSchema, 'Role').filter((role) => role.metadata.namespace !== NAMESPACE);
    expect(roles.length).toBeGreaterThan(0);
    const PLURALS = ['daemonsets', 'deployments', 'statefulsets'];
    for (const role of roles) {
      for (const rule of role.rules) {
        if (rule.apiGroups[0] === 'apps') {
          // Workloads: by name only, exactly get and patch, nothing but the three kinds.
          expect(rule.apiGroups).toEqual(['apps']);
          expect(rule.resources.every((resource) => PLURALS.includes(resource))).toBe(true);
          expect(rule.resourceNames?.length).toBeGreaterThan(0);
          expect([...rule.verbs].sort()).toEqual(rolloutVerbs);
          continue;
        }
        expect([rule.apiGroups, rule.resources]).toEqual([[''], ['secrets']]);
        // Only `create` cannot be limited by name; everything else names its Secrets.
        if (!rule.resourceNames) expect(rule.verbs).toEqual(['create']);
      }
      const secretRules = role.rules.filter((rule) => rule.apiGroups[0] === '');
      expect([...new Set(secretRules.flatMap((rule) => rule.verbs))].sort()).toEqual(storeVerbs);
    }
    const kubernetesTargets = podInventory().accounts.flatMap((account) =>
      account.serviceTokens.flatMap((token) =>
        token.targets.flatMap((target) => (target.kind === 'kubernetes' ? [target] : [])),
      ),
    );
    expect(kubernetesTargets.length).toBeGreaterThan(0);
    const bindings = all(roleBindingSchema, 'RoleBinding');
    /** The verbs the worker's bound Roles in `namespace` grant on `resource` named `name`. */
    const grantedTo = (namespace: string, apiGroup: string, resource: string, name: string) => {
      const bound = bindings.filter(
        (binding) =>
          binding.metadata.namespace === namespace &&
          binding.subjects.some(
            (subject) =>
              subject.kind === 'ServiceAccount' && subject.name === 'token-warden' && subject.namespace === NAMESPACE,
          ),
      );
      const granted = roles
        .filter(
          (role) =>
            role.metadata.namespace === namespace &&
            bound.some((binding) => binding.roleRef.kind === 'Role' && binding.roleRef.name === role.metadata.name),
        )
        .flatMap((role) =>
          role.rules
            .filter(
              (rule) =>
                rule.apiGroups.includes(apiGroup) &&
                rule.resources.includes(resource) &&
                rule.resourceNames?.includes(name),
            )
            .flatMap((rule) => rule.verbs),
        );
      return `${namespace}/${resource}/${name}: ${[...new Set(granted)].sort().join(',')}`;
    };
    for (const target of kubernetesTargets) {
      expect(grantedTo(target.namespace, '', 'secrets', target.name)).toBe(
        `${target.namespace}/secrets/${target.name}: get,update`,
      );
    }
    const consumers = kubernetesTargets.flatMap((target) =>
      (target.restart ?? []).map((consumer) => ({
        namespace: consumer.namespace ?? target.namespace,
        resource: `${consumer.kind.toLowerCase()}s`,
        name: consumer.name,
      })),
    );
    // The example names a Deployment, so the rule above is exercised, not vacuous.
    expect(consumers.length).toBeGreaterThan(0);
    for (const { namespace, resource, name } of consumers) {
      expect(grantedTo(namespace, 'apps', resource, name)).toBe(`${namespace}/${resource}/${name}: get,patch`);
    }
    // Every workload the Roles name is one a target restarts: no grant outlives its consumer.
    const namedWorkloads = roles.flatMap((role) =>
      role.rules
        .filter((rule) => rule.apiGroups.includes('apps'))
        .flatMap((rule) =>
          rule.resources.flatMap((resource) =>
            (rule.resourceNames ?? []).map((name) => `${role.metadata.namespace}/${resource}/${name}`),
          ),
        ),
    );
    expect(namedWorkloads.sort()).toEqual(consumers.map((c) => `${c.namespace}/${c.resource}/${c.name}`).sort());
  });

  it('gives the API pod no service-account token', () => {
    const pod = api.spec.template.spec;
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName ?? 'default').not.toBe('token-warden');
  });

  it('runs both as a numeric non-root user on a read-only root filesystem, with resources and a writable /tmp', () => {
    for (const deployment of [worker, api]) {
      const pod = deployment.spec.template.spec;
      const container = containerOf(deployment);
      // The image's USER is `node` by name: runAsNonRoot needs a numeric uid to be enforceable.
      expect(pod.securityContext.runAsNonRoot ?? container.securityContext.runAsNonRoot).toBe(true);
      expect(container.securityContext.runAsUser ?? pod.securityContext.runAsUser).toBeGreaterThan(0);
      expect(container.securityContext).toMatchObject({
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      const tmp = container.volumeMounts.find((mount) => mount.mountPath === '/tmp');
      expect(pod.volumes.find((volume) => volume.name === tmp?.name)?.emptyDir).toBeDefined();
    }
  });

  it('gives the worker time to drain (longer than its longest activity timeout) and keeps one running through disruptions', () => {
    const workflows = readdirSync(path.join(root, 'src/workflows')).filter((file) => file.endsWith('.ts'));
    const timeouts = workflows.flatMap((file) =>
      [...read(`src/workflows/${file}`).matchAll(/startToCloseTimeout: '([^']+)'/g)].map((match) =>
        msToNumber(match[1] as Parameters<typeof msToNumber>[0]),
      ),
    );
    expect(timeouts.length).toBeGreaterThan(0);
    expect((worker.spec.template.spec.terminationGracePeriodSeconds ?? 30) * 1000).toBeGreaterThan(
      Math.max(...timeouts),
    );
    expect(find(manifestSchema, 'PodDisruptionBudget', 'token-warden-worker')).toMatchObject({
      spec: { minAvailable: 1, selector: { matchLabels: worker.spec.selector.matchLabels } },
    });
  });
});

describe('deploy/kubernetes against the Kubernetes API schemas (kubeconform, offline)', () => {
  let scratch: string;
  beforeAll(() => {
    scratch = mkdtempSync(path.join(os.tmpdir(), 'tw-kubeconform-'));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  interface Summary {
    resources: Array<{ filename: string; kind: string; name: string; status: string; msg: string }>;
    summary: { valid: number; invalid: number; errors: number; skipped: number };
  }
  /** -strict: unknown fields are errors too. A kind without a schema is an error, never skipped. */
  function validate(targets: readonly string[], version: string): { status: number | null; report: Summary } {
    const result = run(kubeconform(), [
      '-strict',
      '-summary',
      '-output',
      'json',
      '-kubernetes-version',
      version,
      '-schema-location',
      kubernetesSchemaLocation(),
      ...targets,
    ]);
    return { status: result.status, report: JSON.parse(result.stdout) as Summary };
  }

  it.each(KUBERNETES_VERSIONS)('validates every object against Kubernetes %s', (version) => {
    const { status, report } = validate(
      kustomization.resources.map((file) => path.join(dir, file)),
      version,
    );
    expect(report.resources).toEqual([]);
    expect(report.summary).toEqual({ valid: documents.length, invalid: 0, errors: 0, skipped: 0 });
    expect(status).toBe(0);
  });

  it('rejects a Deployment with a field of the wrong type, and one with a field Kubernetes does not know', () => {
    const original = read('deploy/kubernetes/worker.yaml');
    const wrongType = path.join(scratch, 'wrong-type.yaml');
    writeFileSync(wrongType, original.replace('replicas: 2', 'replicas: two'));
    const unknownField = path.join(scratch, 'unknown-field.yaml');
    writeFileSync(unknownField, original.replace('terminationGracePeriodSeconds: 90', 'terminationGracePeriod: 90'));
    for (const file of [wrongType, unknownField]) expect(readFileSync(file, 'utf8')).not.toBe(original);

    const { status, report } = validate([wrongType, unknownField], KUBERNETES_VERSIONS[0]!);
    expect(status).toBe(1);
    // kubeconform validates files in parallel: its report's order is not theirs.
    const invalid = Object.fromEntries(
      report.resources.map((resource) => [path.basename(resource.filename), `${resource.kind} ${resource.status}`]),
    );
    expect(invalid).toEqual({
      'wrong-type.yaml': 'Deployment statusInvalid',
      'unknown-field.yaml': 'Deployment statusInvalid',
    });
    const message = (file: string) => report.resources.find((resource) => resource.filename === file)?.msg;
    expect(message(wrongType)).toMatch(/\/spec\/replicas.*got string, want null or integer/);
    expect(message(unknownField)).toMatch(/additional properties 'terminationGracePeriod' not allowed/);
    // The PodDisruptionBudget beside each broken Deployment still passes.
    expect(report.summary).toMatchObject({ valid: 2, invalid: 2, errors: 0 });
  });
});
