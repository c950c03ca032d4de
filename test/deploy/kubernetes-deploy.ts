import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import type { z } from 'zod';
import { parseInventory } from '../../src/config';
import {
  configMapSchema,
  deploymentSchema,
  kustomizationSchema,
  manifestSchema,
  type Container,
  type Deployment,
  type Manifest,
} from './kubernetes-objects';

/** The shipped manifests of deploy/kubernetes, loaded once per test file, and what a pod makes of them. */

export const root = path.resolve(__dirname, '../..');
export const dir = path.join(root, 'deploy/kubernetes');
export const read = (file: string) => readFileSync(path.join(root, file), 'utf8');

export const NAMESPACE = 'token-warden';

export const kustomization = kustomizationSchema.parse(
  parse(readFileSync(path.join(dir, 'kustomization.yaml'), 'utf8')),
);
export const documents: Array<{ file: string; doc: Manifest }> = kustomization.resources.flatMap((file) => {
  const text = readFileSync(path.join(dir, file), 'utf8');
  return parseAllDocuments(text).map((document) => {
    if (document.errors.length) throw new Error(`${file}: ${document.errors[0]!.message}`);
    return { file, doc: manifestSchema.parse(document.toJS()) };
  });
});

export function find<S extends z.ZodType>(schema: S, kind: string, name: string): z.infer<S> {
  const matches = documents.filter(({ doc }) => doc.kind === kind && doc.metadata.name === name);
  if (matches.length !== 1)
    throw new Error(`expected one ${kind} ${name} in deploy/kubernetes, found ${matches.length}`);
  return schema.parse(matches[0]!.doc);
}
export function all<S extends z.ZodType>(schema: S, kind: string): Array<z.infer<S>> {
  return documents.filter(({ doc }) => doc.kind === kind).map(({ doc }) => schema.parse(doc));
}

export const worker = find(deploymentSchema, 'Deployment', 'token-warden-worker');
export const api = find(deploymentSchema, 'Deployment', 'token-warden-api');
export const containerOf = (deployment: Deployment): Container => deployment.spec.template.spec.containers[0]!;
export const envConfigMaps = (container: Container) =>
  container.envFrom.map(({ configMapRef }) => find(configMapSchema, 'ConfigMap', configMapRef.name));

/** Every variable a container gets: its `env` and the keys of the ConfigMaps in its `envFrom`. */
export function envNames(deployment: Deployment): string[] {
  const container = containerOf(deployment);
  return [
    ...container.env.map((entry) => entry.name),
    ...envConfigMaps(container).flatMap((configMap) => Object.keys(configMap.data)),
  ];
}
export function literalEnv(deployment: Deployment, name: string): string | undefined {
  const container = containerOf(deployment);
  const entry = container.env.find((variable) => variable.name === name);
  if (entry) return entry.value;
  return envConfigMaps(container).find((configMap) => name in configMap.data)?.data[name];
}
/** The environment of a pod: literal values as written, every other variable a stand-in. */
export const podEnv = (deployment: Deployment): Record<string, string> =>
  Object.fromEntries(envNames(deployment).map((name) => [name, literalEnv(deployment, name) || 'stand-in']));

export const inventoryText =
  find(configMapSchema, 'ConfigMap', 'token-warden-inventory').data['token-warden.yaml'] ?? '';
/** The inventory as a pod parses it, every variable the pod gets set to a stand-in (throws ConfigError). */
export const podInventory = (deployment: Deployment = worker) =>
  parseInventory(
    inventoryText,
    'deploy/kubernetes/inventory.yaml',
    Object.fromEntries(envNames(deployment).map((name) => [name, 'stand-in'])),
  );

/** The Kubernetes calls a store makes (its `Pick<…Api, ...>` in `file`), as RBAC verbs, sorted. */
export function rbacVerbsPicked(file: string, api: string): string[] {
  const verbOf: Record<string, string> = {
    read: 'get',
    list: 'list',
    create: 'create',
    replace: 'update',
    patch: 'patch',
    delete: 'delete',
  };
  const picked = new RegExp(`Pick<\\s*${api},([^>]*)>`).exec(read(file))?.[1] ?? '';
  const methods = [...picked.matchAll(/'(\w+)'/g)].map((match) => match[1]!);
  return [...new Set(methods.map((method) => verbOf[/^[a-z]+/.exec(method)![0]] ?? method))].sort();
}
