import { randomUUID } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubernetesApps, type KubernetesApps } from './kubernetes-apps';
import { startLoopbackServer, type FakeRequest, type FakeResponse } from './loopback-server';
import { OpenApiContract, sharedDocument } from './openapi-contract';

/**
 * A loopback Kubernetes API server for core/v1 Secrets, following
 * ../shared/contracts/kubernetes-secrets.json: every request and response body is checked against
 * the contract, and anything off is kept in `violations` for the test to assert empty.
 * Semantics from the contract's x-semantics: no create-on-update (PUT/PATCH of a missing Secret
 * is 404), a stale metadata.resourceVersion is 409 Conflict, an empty one updates unconditionally.
 * apps/v1 workloads and their rollouts are kubernetes-apps.ts, on the same server.
 */

const COLLECTION = '/api/v1/namespaces/{namespace}/secrets';
const ITEM = '/api/v1/namespaces/{namespace}/secrets/{name}';
const MERGE_PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];
const JSON_PATCH_TYPE = 'application/json-patch+json';

export interface StoredSecret {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    creationTimestamp: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  type: string;
  data: Record<string, string>;
  immutable?: boolean;
}

interface Injection {
  method: string;
  remaining: number;
  apply(request: FakeRequest): FakeResponse | undefined;
}

export interface KubernetesFake {
  url: string;
  /** apps/v1 Deployments, StatefulSets and DaemonSets, with rollouts the test steers (kubernetes-apps.ts). */
  readonly apps: KubernetesApps;
  /** Contract violations seen so far, requests and responses; a passing test leaves it empty. */
  readonly violations: string[];
  /** Method and path of every request, in order. */
  readonly requests: Array<{ method: string; path: string }>;
  secret(namespace: string, name: string): StoredSecret | undefined;
  /** Decoded value of one key, for assertions. */
  value(namespace: string, name: string, key: string): string | undefined;
  /** Stores a Secret as if someone else had created it. */
  seed(
    namespace: string,
    name: string,
    values: Record<string, string>,
    options?: { immutable?: boolean },
  ): StoredSecret;
  /**
   * Before each of the next `times` requests with `method`, another writer changes the Secret
   * (new resourceVersion), so the request carries a stale one.
   */
  concurrentWriteBefore(
    method: 'PUT' | 'PATCH',
    namespace: string,
    name: string,
    values: Record<string, string>,
    times?: number,
  ): void;
  /**
   * The next `times` requests with `method` answer a Status error with this code. With
   * `echoRequest` the message quotes the request body, as a real 422 quotes invalid values.
   * Injected faults are not checked against the contract, which declares few error statuses.
   */
  failNext(method: string, code: 409 | 422 | 500 | 503, options?: { times?: number; echoRequest?: boolean }): void;
  close(): Promise<void>;
}

export async function startKubernetesFake(): Promise<KubernetesFake> {
  const contract = new OpenApiContract(sharedDocument('contracts/kubernetes-secrets.json'));
  const secrets = new Map<string, StoredSecret>();
  const violations: string[] = [];
  const requests: Array<{ method: string; path: string }> = [];
  const injections: Injection[] = [];
  const apps = createKubernetesApps(violations);
  let resourceVersion = 1000;
  const key = (namespace: string, name: string) => `${namespace}/${name}`;
  const nextVersion = () => String((resourceVersion += 1));

  function store(
    namespace: string,
    name: string,
    fields: Pick<StoredSecret, 'type' | 'data'> & {
      immutable?: boolean | undefined;
      labels?: Record<string, string> | undefined;
      annotations?: Record<string, string> | undefined;
    },
    previous?: StoredSecret,
  ): StoredSecret {
    const secret: StoredSecret = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name,
        namespace,
        uid: previous?.metadata.uid ?? randomUUID(),
        resourceVersion: nextVersion(),
        creationTimestamp: previous?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(fields.labels ? { labels: fields.labels } : {}),
        ...(fields.annotations ? { annotations: fields.annotations } : {}),
      },
      type: fields.type,
      data: fields.data,
      ...(fields.immutable === undefined ? {} : { immutable: fields.immutable }),
    };
    secrets.set(key(namespace, name), secret);
    return secret;
  }

  function respond(method: string, template: string, status: number, body: unknown): FakeResponse {
    violations.push(...contract.responseProblems(method, template, status, body));
    return { status, body };
  }

  function status(
    method: string,
    template: string,
    code: number,
    reason: string,
    message: string,
    name?: string,
  ): FakeResponse {
    return respond(method, template, code, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      ...(name === undefined ? {} : { details: { name, kind: 'secrets' } }),
      code,
    });
  }

  const conflict = (method: string, name: string) =>
    status(
      method,
      ITEM,
      409,
      'Conflict',
      `Operation cannot be fulfilled on secrets "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      name,
    );
  const notFound = (method: string, name: string) =>
    status(method, ITEM, 404, 'NotFound', `secrets "${name}" not found`, name);
  const invalid = (method: string, template: string, name: string, message: string) =>
    status(method, template, 422, 'Invalid', `Secret "${name}" is invalid: ${message}`, name);

  /** data plus stringData merged in (stringData is write-only), or a problem. */
  function dataOf(body: Record<string, unknown>): Record<string, string> {
    const data = isRecord(body.data) ? stringValues(body.data) : {};
    const stringData = isRecord(body.stringData) ? stringValues(body.stringData) : {};
    for (const [name, value] of Object.entries(stringData)) data[name] = Buffer.from(value, 'utf8').toString('base64');
    return data;
  }

  function create(namespace: string, body: unknown): FakeResponse {
    const problems = contract.requestProblems('POST', COLLECTION, body);
    violations.push(...problems);
    if (!isRecord(body) || problems.length > 0) return invalid('POST', COLLECTION, '', problems.join('; '));
    const metadata = isRecord(body.metadata) ? body.metadata : {};
    const name = typeof metadata.name === 'string' ? metadata.name : '';
    if (name === '')
      return invalid('POST', COLLECTION, name, 'metadata.name: Required value: name or generateName is required');
    if (metadata.namespace !== undefined && metadata.namespace !== namespace) {
      return invalid(
        'POST',
        COLLECTION,
        name,
        'metadata.namespace: Invalid value: does not match the namespace of the request',
      );
    }
    if (secrets.has(key(namespace, name)))
      return status('POST', COLLECTION, 409, 'AlreadyExists', `secrets "${name}" already exists`, name);
    const created = store(namespace, name, {
      type: typeof body.type === 'string' ? body.type : 'Opaque',
      data: dataOf(body),
      immutable: typeof body.immutable === 'boolean' ? body.immutable : undefined,
      labels: isRecord(metadata.labels) ? stringValues(metadata.labels) : undefined,
      annotations: isRecord(metadata.annotations) ? stringValues(metadata.annotations) : undefined,
    });
    return respond('POST', COLLECTION, 201, created);
  }

  /** The write path shared by PUT and PATCH once the new object is known. */
  function update(method: string, current: StoredSecret, next: Record<string, unknown>): FakeResponse {
    const { name, namespace } = current.metadata;
    const metadata = isRecord(next.metadata) ? next.metadata : {};
    const wanted = metadata.resourceVersion;
    if (typeof wanted === 'string' && wanted !== '' && wanted !== current.metadata.resourceVersion)
      return conflict(method, name);
    if (metadata.name !== undefined && metadata.name !== name) {
      return invalid(
        method,
        ITEM,
        name,
        `metadata.name: Invalid value: "${String(metadata.name)}": field is immutable`,
      );
    }
    const data = dataOf(next);
    const type = typeof next.type === 'string' ? next.type : current.type;
    if (type !== current.type) return invalid(method, ITEM, name, 'type: Invalid value: field is immutable');
    if (current.immutable === true && JSON.stringify(sorted(data)) !== JSON.stringify(sorted(current.data))) {
      return invalid(method, ITEM, name, 'data: Forbidden: field is immutable when `immutable` is set');
    }
    const updated = store(
      namespace,
      name,
      {
        type,
        data,
        immutable: typeof next.immutable === 'boolean' ? next.immutable : current.immutable,
        labels: isRecord(metadata.labels) ? stringValues(metadata.labels) : undefined,
        annotations: isRecord(metadata.annotations) ? stringValues(metadata.annotations) : undefined,
      },
      current,
    );
    return respond(method, ITEM, 200, updated);
  }

  function replace(current: StoredSecret | undefined, name: string, body: unknown): FakeResponse {
    const problems = contract.requestProblems('PUT', ITEM, body);
    violations.push(...problems);
    if (current === undefined) return notFound('PUT', name);
    if (!isRecord(body) || problems.length > 0) return invalid('PUT', ITEM, name, problems.join('; '));
    return update('PUT', current, body);
  }

  function patch(current: StoredSecret | undefined, name: string, contentType: string, body: unknown): FakeResponse {
    const mediaType = contentType.split(';')[0]?.trim() ?? '';
    if (mediaType !== JSON_PATCH_TYPE && !MERGE_PATCH_TYPES.includes(mediaType)) {
      return status(
        'PATCH',
        ITEM,
        415,
        'UnsupportedMediaType',
        `the body of the request was in an unknown format - accepted media types include: ${[JSON_PATCH_TYPE, ...MERGE_PATCH_TYPES].join(', ')}`,
      );
    }
    // The contract's Patch schema says `object`, which cannot describe an RFC 6902 array, so a
    // JSON Patch is checked for its own shape instead.
    const problems =
      mediaType === JSON_PATCH_TYPE
        ? jsonPatchProblems(body)
        : contract.requestProblems('PATCH', ITEM, body, mediaType);
    violations.push(...problems);
    if (current === undefined) return notFound('PATCH', name);
    if (problems.length > 0) return invalid('PATCH', ITEM, name, problems.join('; '));
    const document: Record<string, unknown> = JSON.parse(JSON.stringify(current));
    if (mediaType !== JSON_PATCH_TYPE) return update('PATCH', current, mergePatch(document, body));
    const outcome = applyJsonPatch(document, Array.isArray(body) ? body : []);
    if (outcome === 'test failed') return invalid('PATCH', ITEM, name, 'the test operation of the JSON patch failed');
    return update('PATCH', current, outcome);
  }

  function route(request: FakeRequest): FakeResponse {
    requests.push({ method: request.method, path: request.path });
    const injection = injections.find((candidate) => candidate.method === request.method && candidate.remaining > 0);
    if (injection) {
      injection.remaining -= 1;
      const answer = injection.apply(request);
      if (answer) return answer;
    }
    const workload = apps.route(request);
    if (workload) return workload;
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(request.path);
    if (!match?.[1])
      return {
        status: 404,
        body: {
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          reason: 'NotFound',
          code: 404,
          message: 'the server could not find the requested resource',
        },
      };
    const namespace = decodeURIComponent(match[1]);
    if (match[2] === undefined) {
      if (request.method === 'POST') return create(namespace, request.body);
      if (request.method === 'GET') {
        const items = [...secrets.values()].filter((secret) => secret.metadata.namespace === namespace);
        return respond('GET', COLLECTION, 200, {
          apiVersion: 'v1',
          kind: 'SecretList',
          metadata: { resourceVersion: String(resourceVersion) },
          items,
        });
      }
      return { status: 405 };
    }
    const name = decodeURIComponent(match[2]);
    const current = secrets.get(key(namespace, name));
    switch (request.method) {
      case 'GET':
        return current ? respond('GET', ITEM, 200, current) : notFound('GET', name);
      case 'PUT':
        return replace(current, name, request.body);
      case 'PATCH':
        return patch(current, name, request.contentType, request.body);
      default:
        return { status: 405 };
    }
  }

  const server = await startLoopbackServer(route);

  return {
    url: server.url,
    apps,
    violations,
    requests,
    secret: (namespace, name) => secrets.get(key(namespace, name)),
    value: (namespace, name, valueKey) => {
      const encoded = secrets.get(key(namespace, name))?.data[valueKey];
      return encoded === undefined ? undefined : Buffer.from(encoded, 'base64').toString('utf8');
    },
    seed: (namespace, name, values, options = {}) =>
      store(namespace, name, { type: 'Opaque', data: encodeValues(values), immutable: options.immutable }),
    concurrentWriteBefore: (method, namespace, name, values, times = 1) => {
      injections.push({
        method,
        remaining: times,
        apply: () => {
          const current = secrets.get(key(namespace, name));
          if (current)
            store(namespace, name, { ...current, data: { ...current.data, ...encodeValues(values) } }, current);
          return undefined;
        },
      });
    },
    failNext: (method, code, { times = 1, echoRequest = false } = {}) => {
      const reasons = { 409: 'Conflict', 422: 'Invalid', 500: 'InternalError', 503: 'ServiceUnavailable' };
      injections.push({
        method,
        remaining: times,
        apply: (request) => {
          const message = echoRequest ? `Invalid value: ${JSON.stringify(request.body)}` : `injected ${reasons[code]}`;
          return {
            status: code,
            body: {
              kind: 'Status',
              apiVersion: 'v1',
              metadata: {},
              status: 'Failure',
              reason: reasons[code],
              message,
              code,
            },
          };
        },
      });
    },
    close: () => server.close(),
  };
}

function encodeValues(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [name, Buffer.from(value, 'utf8').toString('base64')]),
  );
}

function stringValues(record: Record<string, unknown>): Record<string, string> {
  return Object.fromEntries(
    Object.entries(record).filter((entry): entry is [string, string] => typeof entry[1] === 'string'),
  );
}

function sorted(record: Record<string, string>): Array<[string, string]> {
  return Object.entries(record).sort(([a], [b]) => a.localeCompare(b));
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386: objects merge, null deletes, anything else replaces. */
function mergePatch(target: unknown, patchValue: unknown): Record<string, unknown> {
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  if (!isRecord(patchValue)) return result;
  for (const [name, value] of Object.entries(patchValue)) {
    if (value === null) delete result[name];
    else if (isRecord(value)) result[name] = mergePatch(result[name], value);
    else result[name] = value;
  }
  return result;
}

function jsonPatchProblems(body: unknown): string[] {
  if (!Array.isArray(body)) return ['PATCH json-patch: the body must be an array of operations'];
  return body.flatMap((operation, index) =>
    isRecord(operation) &&
    ['add', 'replace', 'remove', 'test'].includes(String(operation.op)) &&
    typeof operation.path === 'string'
      ? []
      : [`PATCH json-patch: operation ${index} is not an add, replace, remove or test with a path`],
  );
}

/** RFC 6902 add/replace/remove/test on object paths, enough for Secrets. */
function applyJsonPatch(
  document: Record<string, unknown>,
  operations: unknown[],
): Record<string, unknown> | 'test failed' {
  for (const operation of operations) {
    if (!isRecord(operation) || typeof operation.path !== 'string') continue;
    const segments = operation.path
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = segments.pop();
    let parent: unknown = document;
    for (const segment of segments) {
      if (!isRecord(parent)) break;
      if (operation.op !== 'test' && parent[segment] === undefined) parent[segment] = {};
      parent = parent[segment];
    }
    if (!isRecord(parent) || last === undefined) return 'test failed';
    if (operation.op === 'test' && JSON.stringify(parent[last]) !== JSON.stringify(operation.value))
      return 'test failed';
    if (operation.op === 'add' || operation.op === 'replace') parent[last] = operation.value;
    if (operation.op === 'remove') delete parent[last];
  }
  return document;
}

/** A KubeConfig that points @kubernetes/client-node at a fake on loopback. */
export function kubeConfigFor(url: string): KubeConfig {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'fake', server: url, skipTLSVerify: true }],
    users: [{ name: 'warden', token: 'not-a-real-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'warden' }],
    currentContext: 'fake',
  });
  return config;
}
