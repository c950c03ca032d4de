import { randomBytes, randomInt } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import { startLoopbackServer, type FakeRequest, type FakeResponse } from './loopback-server';
import { OpenApiContract, sharedDocument } from './openapi-contract';

/**
 * A loopback GitHub Actions secrets API (repository, environment and organization scopes),
 * following ../shared/contracts/github-actions-secrets.json: request and response bodies are
 * checked against it and problems kept in `violations`. Each scope has a real libsodium key pair,
 * and every PUT is decrypted, so a test can assert the plaintext that arrived: that proves the
 * sealed box, not just its shape.
 */

export type ScopeRef =
  | { owner: string; repo: string; environment?: undefined; org?: undefined }
  | { owner: string; repo: string; environment: string; org?: undefined }
  | { org: string; owner?: undefined; repo?: undefined; environment?: undefined };

interface Scope {
  keyId: string;
  publicKey: Uint8Array;
  privateKey: Uint8Array;
  secrets: Map<string, StoredSecret>;
}

export interface StoredSecret {
  plaintext: string;
  created_at: string;
  updated_at: string;
  visibility?: 'all' | 'private' | 'selected';
  selected_repository_ids?: Array<number | string>;
}

export interface GithubFake {
  url: string;
  /** The token the fake accepts; made at run time. */
  token: string;
  readonly violations: string[];
  readonly requests: Array<{ method: string; path: string; status: number }>;
  /** Makes a repository (with these environments) or an organization exist. */
  add(scope: ScopeRef): void;
  secret(scope: ScopeRef, name: string): StoredSecret | undefined;
  /** The next `times` requests with `method` answer `status` with a basic-error body. */
  failNext(method: string, status: number, times?: number): void;
  close(): Promise<void>;
}

const REPO = '/repos/{owner}/{repo}/actions/secrets';
const ENVIRONMENT = '/repos/{owner}/{repo}/environments/{environment_name}/secrets';
const ORG = '/orgs/{org}/actions/secrets';

export async function startGithubFake(): Promise<GithubFake> {
  await sodium.ready;
  const contract = new OpenApiContract(sharedDocument('contracts/github-actions-secrets.json'));
  const token = `ghp_fake_${randomBytes(12).toString('hex')}`;
  const scopes = new Map<string, Scope>();
  const violations: string[] = [];
  const requests: Array<{ method: string; path: string; status: number }> = [];
  const failures: Array<{ method: string; status: number; remaining: number }> = [];
  const scopeKey = (scope: ScopeRef) =>
    scope.org !== undefined
      ? `org:${scope.org}`
      : `repo:${scope.owner}/${scope.repo}${scope.environment === undefined ? '' : `@${scope.environment}`}`;
  const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z'); // GitHub's resolution: seconds

  function add(scope: ScopeRef): void {
    const pair = sodium.crypto_box_keypair();
    scopes.set(scopeKey(scope), {
      keyId: String(randomInt(10 ** 11, 10 ** 12)),
      publicKey: pair.publicKey,
      privateKey: pair.privateKey,
      secrets: new Map(),
    });
  }

  function respond(method: string, template: string, status: number, body?: unknown): FakeResponse {
    violations.push(...contract.responseProblems(method, template, status, body));
    return { status, ...(body === undefined ? {} : { body }) };
  }

  const notFound = (): FakeResponse => ({
    status: 404,
    body: { message: 'Not Found', documentation_url: 'https://docs.github.com/rest', status: '404' },
  });

  function put(collection: string, scope: Scope, name: string, body: unknown, organization: boolean): FakeResponse {
    const template = `${collection}/{secret_name}`;
    const problems = contract.requestProblems('PUT', template, body);
    violations.push(...problems);
    if (!isRecord(body) || problems.length > 0)
      return { status: 422, body: { message: 'Invalid request', status: '422' } };
    if (body.key_id !== scope.keyId) {
      violations.push(`PUT ${template}: key_id ${String(body.key_id)} is not the scope's key ${scope.keyId}`);
      return { status: 422, body: { message: 'Bad request: key_id does not match', status: '422' } };
    }
    let plaintext: string;
    try {
      const sealed = sodium.from_base64(String(body.encrypted_value), sodium.base64_variants.ORIGINAL);
      plaintext = sodium.to_string(sodium.crypto_box_seal_open(sealed, scope.publicKey, scope.privateKey));
    } catch {
      violations.push(`PUT ${template}: encrypted_value is not a sealed box for the scope's key`);
      return { status: 422, body: { message: 'Bad request: could not decrypt', status: '422' } };
    }
    const existing = scope.secrets.get(name);
    const at = now();
    scope.secrets.set(name, {
      plaintext,
      created_at: existing?.created_at ?? at,
      updated_at: at,
      ...(organization && typeof body.visibility === 'string' && isVisibility(body.visibility)
        ? { visibility: body.visibility }
        : {}),
      ...(organization && Array.isArray(body.selected_repository_ids)
        ? { selected_repository_ids: body.selected_repository_ids }
        : {}),
    });
    return existing ? respond('PUT', template, 204) : respond('PUT', template, 201, {});
  }

  function describe(name: string, secret: StoredSecret, organization: boolean, orgName: string) {
    const base = { name, created_at: secret.created_at, updated_at: secret.updated_at };
    if (!organization) return base;
    return {
      ...base,
      visibility: secret.visibility ?? 'private',
      ...(secret.visibility === 'selected'
        ? { selected_repositories_url: `https://api.github.com/orgs/${orgName}/actions/secrets/${name}/repositories` }
        : {}),
    };
  }

  function route(request: FakeRequest): FakeResponse {
    const failure = failures.find((candidate) => candidate.method === request.method && candidate.remaining > 0);
    if (failure) {
      failure.remaining -= 1;
      return {
        status: failure.status,
        body: { message: `injected ${failure.status}`, status: String(failure.status) },
      };
    }
    const authorization = request.headers.authorization ?? '';
    if (!/^(token|bearer) /i.test(authorization) || authorization.split(' ')[1] !== token) {
      return {
        status: 401,
        body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' },
      };
    }
    const parsed = parsePath(request.path);
    if (parsed === undefined) return notFound();
    const scope = scopes.get(scopeKey(parsed.scope));
    if (scope === undefined) return notFound(); // GitHub answers 404 for a scope it does not know
    const organization = parsed.scope.org !== undefined;
    const { template, rest } = parsed;
    if (rest === 'public-key' && request.method === 'GET') {
      return respond('GET', `${template}/public-key`, 200, {
        key_id: scope.keyId,
        key: sodium.to_base64(scope.publicKey, sodium.base64_variants.ORIGINAL),
      });
    }
    if (rest === undefined && request.method === 'GET') {
      const secrets = [...scope.secrets].map(([name, secret]) =>
        describe(name, secret, organization, parsed.scope.org ?? ''),
      );
      return respond('GET', template, 200, { total_count: secrets.length, secrets });
    }
    if (rest === undefined || rest === 'public-key') return { status: 404, body: { message: 'Not Found' } };
    const existing = scope.secrets.get(rest);
    switch (request.method) {
      case 'GET':
        return existing
          ? respond(
              'GET',
              `${template}/{secret_name}`,
              200,
              describe(rest, existing, organization, parsed.scope.org ?? ''),
            )
          : respond('GET', `${template}/{secret_name}`, 404, notFound().body);
      case 'PUT':
        return put(template, scope, rest, request.body, organization);
      case 'DELETE':
        if (!existing) return respond('DELETE', `${template}/{secret_name}`, 404, notFound().body);
        scope.secrets.delete(rest);
        return respond('DELETE', `${template}/{secret_name}`, 204);
      default:
        return { status: 404, body: { message: 'Not Found' } };
    }
  }

  const server = await startLoopbackServer((request) => {
    const response = route(request);
    requests.push({ method: request.method, path: request.path, status: response.status });
    return response;
  });

  return {
    url: server.url,
    token,
    violations,
    requests,
    add,
    secret: (scope, name) => scopes.get(scopeKey(scope))?.secrets.get(name),
    failNext: (method, status, times = 1) => {
      failures.push({ method, status, remaining: times });
    },
    close: () => server.close(),
  };
}

function parsePath(path: string): { scope: ScopeRef; template: string; rest: string | undefined } | undefined {
  const parts = path.split('/').slice(1).map(decodeURIComponent);
  const [first, a, b, c, d, e, f] = parts;
  if (first === 'orgs' && a !== undefined && b === 'actions' && c === 'secrets' && parts.length <= 5) {
    return { scope: { org: a }, template: ORG, rest: d };
  }
  if (first !== 'repos' || a === undefined || b === undefined) return undefined;
  if (c === 'actions' && d === 'secrets' && parts.length <= 6)
    return { scope: { owner: a, repo: b }, template: REPO, rest: e };
  if (c === 'environments' && d !== undefined && e === 'secrets' && parts.length <= 7) {
    return { scope: { owner: a, repo: b, environment: d }, template: ENVIRONMENT, rest: f };
  }
  return undefined;
}

function isVisibility(value: string): value is 'all' | 'private' | 'selected' {
  return value === 'all' || value === 'private' || value === 'selected';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
