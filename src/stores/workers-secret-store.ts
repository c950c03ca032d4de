import { targetLabel } from './target-label';
import type Cloudflare from 'cloudflare';
import { assembleStore } from './assemble-store';
import { fingerprintCredential } from './fingerprint';
import type { StoreOperation } from './store-error';
import type {
  PropagationStore,
  ServiceTokenCredential,
  WorkersSecretTarget,
  WriteOptions,
  WriteReceipt,
} from './store-types';

/** Put one secret_text binding; list the bindings' names. Plain or dispatch-namespace script. */
interface ScriptSecretsApi {
  put(name: string, text: string): Promise<unknown>;
  names(): Promise<Set<string>>;
}

/** The list is one request: the API returns every binding at once (the SDK's SinglePage). */
async function secretTextNames(
  list: PromiseLike<{ result: ReadonlyArray<{ name: string; type: string }> }>,
): Promise<Set<string>> {
  const { result } = await list;
  return new Set(result.filter((secret) => secret.type === 'secret_text').map((secret) => secret.name));
}

function scriptSecretsApi(client: Cloudflare, accountId: string, target: WorkersSecretTarget): ScriptSecretsApi {
  const { script, dispatchNamespace } = target;
  if (dispatchNamespace === undefined) {
    const secrets = client.workers.scripts.secrets;
    return {
      put: (name, text) => secrets.update(script, { account_id: accountId, name, text, type: 'secret_text' }),
      names: () => secretTextNames(secrets.list(script, { account_id: accountId })),
    };
  }
  const secrets = client.workersForPlatforms.dispatch.namespaces.scripts.secrets;
  const params = { account_id: accountId, dispatch_namespace: dispatchNamespace };
  return {
    put: (name, text) => secrets.update(script, { ...params, name, text, type: 'secret_text' }),
    names: () => secretTextNames(secrets.list(script, params)),
  };
}

/**
 * Workers never return a secret's value, nor when it was set, so the only evidence is that
 * both bindings exist, and it is left to readBack (one list): a write is the PUTs alone. Each PUT
 * deploys a new Worker version, so a write sends only what may have changed: with
 * `clientIdUnchanged` (rotate-secret keeps the client id) the client secret's PUT alone; otherwise
 * the id's PUT, then the secret's, and the version between the two pairs the new id with the old
 * secret for a moment (replace). A PUT sets the binding to the value given, so a retry after a
 * lost answer sends the same PUTs and converges.
 */
export function createWorkersSecretStore(
  target: WorkersSecretTarget,
  client: Cloudflare,
  accountId: string,
): PropagationStore {
  const label = targetLabel({ ...target, accountId }, accountId);
  const api = scriptSecretsApi(client, accountId, target);
  const { names } = target;

  async function present(): Promise<boolean> {
    const bound = await api.names();
    return bound.has(names.clientId) && bound.has(names.clientSecret);
  }

  async function put(
    credential: ServiceTokenCredential,
    _operation: StoreOperation,
    options: WriteOptions,
  ): Promise<WriteReceipt> {
    // A binding deleted by hand is not seen here: readBack reports it absent, verification fails,
    // and the workflow's next round writes without the hint (see WriteOptions).
    if (options.clientIdUnchanged !== true) await api.put(names.clientId, credential.clientId);
    await api.put(names.clientSecret, credential.clientSecret);
    return {
      store: label,
      fingerprint: fingerprintCredential(credential),
      changed: true,
      expected: { evidence: 'presence', present: true },
    };
  }

  return assembleStore({
    kind: 'workers-secret',
    label,
    put,
    read: async () => ({ evidence: 'presence', present: await present() }),
  });
}
