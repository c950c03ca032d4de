import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { durationMs, loadInventoryFile, parseEnvironment, type Inventory } from '../../src/config';
import { seedRoles } from '../../src/health/evaluate';
import { tokensWriteGroupName } from '../../src/health/permissions';
import { wardenNeeds } from '../../src/health/self-audit';
import { checkSelfToken, configuredWardenToken } from '../../src/runtime/warden-token';
import { deploymentSchema, roleBindingSchema, roleSchema, type Deployment } from './kubernetes-objects';
import {
  NAMESPACE,
  all,
  api,
  containerOf,
  envNames,
  inventoryText,
  literalEnv,
  podEnv,
  podInventory,
  rbacVerbsPicked,
  worker,
} from './kubernetes-deploy';

/*
 * token-warden's own token in deploy/kubernetes: a Secret of its own, mounted as a volume in both
 * pods and read through CLOUDFLARE_API_TOKEN_FILE, which the inventory's `self: true` entry
 * rotates through a kubernetes target. The kubelet updates a mounted Secret volume in place
 * (never an env var, never a subPath mount), so the pods switch to the successor without a restart.
 */

const OWN_SECRET = 'token-warden-cloudflare';
const TOKEN_KEY = 'CLOUDFLARE_API_TOKEN';

/** The mount of the own-token Secret, and the key file CLOUDFLARE_API_TOKEN_FILE names in it. */
function ownTokenMount(deployment: Deployment) {
  const file = literalEnv(deployment, 'CLOUDFLARE_API_TOKEN_FILE') ?? '';
  const mounts = containerOf(deployment).volumeMounts.filter((mount) => file.startsWith(`${mount.mountPath}/`));
  const mount = mounts[0];
  const volume = deployment.spec.template.spec.volumes.find((candidate) => candidate.name === mount?.name);
  return { file, mounts, mount, secret: volume?.secret, inside: path.posix.relative(mount?.mountPath ?? '', file) };
}

const selfEntry = (inventory: Inventory) => {
  const entries = inventory.accounts.flatMap((account) => account.apiTokens).filter((token) => token.self);
  expect(entries).toHaveLength(1);
  return entries[0]!;
};

describe("deploy/kubernetes: token-warden's own token", () => {
  it('mounts its Secret as a whole volume, read-only, in the worker and the API, with CLOUDFLARE_API_TOKEN_FILE inside it', () => {
    for (const deployment of [worker, api]) {
      const { file, mounts, mount, secret, inside } = ownTokenMount(deployment);
      expect(file).toMatch(/^\//);
      expect(mounts).toHaveLength(1);
      expect(mount?.readOnly).toBe(true);
      // A subPath mount is a copy the kubelet never updates: the rotation would not reach the pod.
      expect(containerOf(deployment).volumeMounts.filter((candidate) => candidate.name === mount?.name)).toEqual([
        { name: mount?.name, mountPath: mount?.mountPath, readOnly: true },
      ]);
      // Not optional: a pod starts only with the Secret there, so the store never has to create it.
      expect(secret).toMatchObject({ secretName: OWN_SECRET });
      expect(secret?.optional).not.toBe(true);
      const key = secret?.items ? secret.items.find((item) => item.path === inside)?.key : inside;
      expect(key).toBe(TOKEN_KEY);
    }
    expect(ownTokenMount(api).file).toBe(ownTokenMount(worker).file);
  });

  it('gives no container CLOUDFLARE_API_TOKEN in its environment, which only a restart would change', () => {
    const deployments = all(deploymentSchema, 'Deployment');
    expect(deployments.length).toBeGreaterThanOrEqual(2);
    for (const deployment of deployments) {
      expect(envNames(deployment)).not.toContain(TOKEN_KEY);
      const refs = containerOf(deployment).env.map((entry) => entry.valueFrom?.secretKeyRef?.name);
      expect(refs).not.toContain(OWN_SECRET);
    }
    // Both processes take the file (configuredWardenToken refuses the two together).
    for (const deployment of [worker, api]) {
      const env = parseEnvironment(podEnv(deployment));
      expect([env.CLOUDFLARE_API_TOKEN, env.CLOUDFLARE_API_TOKEN_FILE]).toEqual([
        undefined,
        ownTokenMount(deployment).file,
      ]);
    }
  });

  it('lets the worker get and update only that Secret, in its own namespace, and nothing else there', () => {
    // The store's calls, less `create`: the Secret exists whenever a pod runs (it is mounted).
    const verbs = rbacVerbsPicked('src/stores/kubernetes-store.ts', 'CoreV1Api').filter((verb) => verb !== 'create');
    expect(verbs).toEqual(['get', 'update']);
    const roles = all(roleSchema, 'Role').filter((role) => role.metadata.namespace === NAMESPACE);
    expect(roles.flatMap((role) => role.rules)).toEqual([
      { apiGroups: [''], resources: ['secrets'], resourceNames: [OWN_SECRET], verbs },
    ]);
    const bindings = all(roleBindingSchema, 'RoleBinding').filter(
      (binding) => binding.metadata.namespace === NAMESPACE,
    );
    expect(bindings.map((binding) => [binding.roleRef, binding.subjects])).toEqual([
      [
        { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roles[0]!.metadata.name },
        [{ kind: 'ServiceAccount', name: 'token-warden', namespace: NAMESPACE }],
      ],
    ]);
    expect(worker.spec.template.spec.serviceAccountName).toBe('token-warden');
    // The API only reads the mounted file: no Kubernetes identity.
    expect(api.spec.template.spec.automountServiceAccountToken).toBe(false);
  });

  it('rotates it in the inventory into that Secret, with the permissions token-warden needs and time for the kubelet', () => {
    const inventory = podInventory();
    const self = selfEntry(inventory);
    expect(self.secretFrom).toEqual({ file: ownTokenMount(worker).file });
    expect(self.rotate?.strategy).toBe('successor');
    expect(self.rotate?.targets).toEqual([
      {
        kind: 'kubernetes',
        namespace: NAMESPACE,
        name: OWN_SECRET,
        keys: { clientId: 'CLOUDFLARE_API_TOKEN_ID', clientSecret: TOKEN_KEY },
      },
    ]);
    // The kubelet refreshes a mounted Secret within about a minute; the old token dies after this wait.
    expect(durationMs(self.rotate!.propagationWait)).toBeGreaterThanOrEqual(durationMs('2m'));
    // Health reports keep showing the inventory's user-token as the seed's user_token.
    const tokens = inventory.accounts.flatMap((account) => account.apiTokens);
    expect(tokens[seedRoles(tokens).user ?? -1]?.self).toBe(false);
    const needed = [tokensWriteGroupName(self.kind), ...wardenNeeds(inventory).map((need) => need.permission)];
    expect(self.requiredPermissions).toEqual(expect.arrayContaining([...new Set(needed)]));
  });

  describe('at start-up and after a rotation, with a directory laid out as the kubelet mounts a Secret', () => {
    let scratch: string;
    let mounted: string;
    let version = 0;
    beforeEach(() => {
      scratch = mkdtempSync(path.join(os.tmpdir(), 'tw-self-token-'));
      mounted = path.join(scratch, 'mount');
      mkdirSync(mounted);
      kubeletWrites('first-value');
      symlinkSync(path.join('..data', TOKEN_KEY), path.join(mounted, TOKEN_KEY));
    });
    afterEach(() => rmSync(scratch, { recursive: true, force: true }));

    /** The kubelet's atomic update: a new timestamped directory, then `..data` swapped to it by rename. */
    function kubeletWrites(value: string) {
      version += 1;
      const dir = `..2026_01_01_00_00_0${version}.000000000`;
      mkdirSync(path.join(mounted, dir));
      writeFileSync(path.join(mounted, dir, TOKEN_KEY), value);
      symlinkSync(dir, path.join(mounted, '..data_tmp'));
      renameSync(path.join(mounted, '..data_tmp'), path.join(mounted, '..data'));
    }

    it('passes checkSelfToken with the env the manifests set, and reads the successor the kubelet writes', () => {
      // The scratch directory stands in for the mount in the pod's env and in the inventory alike.
      const { mount } = ownTokenMount(worker);
      const inPod = `${mount!.mountPath}/`;
      const env = podEnv(worker);
      env.CLOUDFLARE_API_TOKEN_FILE = env.CLOUDFLARE_API_TOKEN_FILE!.replace(inPod, `${mounted}/`);
      const text = inventoryText.replaceAll(inPod, `${mounted}/`);
      expect(text).not.toBe(inventoryText);
      const inventoryFile = path.join(scratch, 'token-warden.yaml');
      writeFileSync(inventoryFile, text);

      const inventory = loadInventoryFile(inventoryFile, env);
      const warden = configuredWardenToken(parseEnvironment(env))!;
      expect(warden.file).toBe(path.join(mounted, TOKEN_KEY));
      expect(() => checkSelfToken(inventory, warden)).not.toThrow();
      expect(warden.current()).toBe('first-value');

      kubeletWrites('successor-value');
      expect(warden.current()).toBe('successor-value');
    });
  });
});
