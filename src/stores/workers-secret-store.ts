import type Cloudflare from 'cloudflare';
import { assembleStore } from './assemble-store';
import { fingerprintCredential } from './fingerprint';
import { StoreError, type StoreOperation } from './store-error';
import type { PropagationStore, ServiceTokenCredential, WorkersSecretTarget, WriteReceipt } from './store-types';

/** Put one secret_text binding; list the bindings' names. Plain or dispatch-namespace script. */
interface ScriptSecretsApi {
  put(name: string, text: string): Promise<unknown>;
  names(): Promise<Set<string>>;
}

function scriptSecretsApi(client: Cloudflare, accountId: string, target: WorkersSecretTarget): ScriptSecretsApi {
  const { script, dispatchNamespace } = target;
  const collectNames = async (list: AsyncIterable<{ name: string; type: string }>) => {
    const names = new Set<string>();
    for await (const secret of list) if (secret.type === 'secret_text') names.add(secret.name);
    return names;
  };
  if (dispatchNamespace === undefined) {
    const secrets = client.workers.scripts.secrets;
    return {
      put: (name, text) => secrets.update(script, { account_id: accountId, name, text, type: 'secret_text' }),
      names: () => collectNames(secrets.list(script, { account_id: accountId })),
    };
  }
  const secrets = client.workersForPlatforms.dispatch.namespaces.scripts.secrets;
  const params = { account_id: accountId, dispatch_namespace: dispatchNamespace };
  return {
    put: (name, text) => secrets.update(script, { ...params, name, text, type: 'secret_text' }),
    names: () => collectNames(secrets.list(script, params)),
  };
}

/**
 * Workers never return a secret's value, nor when it was set, so the only evidence is that
 * both bindings exist. Each put deploys a new Worker version: with `rotate-secret` the id is
 * unchanged and only the second put changes anything; with `replace` the version between the
 * two puts pairs the new id with the old secret for a moment.
 */
export function createWorkersSecretStore(
  target: WorkersSecretTarget,
  client: Cloudflare,
  accountId: string,
): PropagationStore {
  const where = target.dispatchNamespace === undefined ? target.script : `${target.dispatchNamespace}/${target.script}`;
  const label = `workers-secret:${accountId}/${where}`;
  const api = scriptSecretsApi(client, accountId, target);
  const { names } = target;

  async function present(): Promise<boolean> {
    const bound = await api.names();
    return bound.has(names.clientId) && bound.has(names.clientSecret);
  }

  async function put(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
    await api.put(names.clientId, credential.clientId);
    await api.put(names.clientSecret, credential.clientSecret);
    if (!(await present())) {
      throw new StoreError({ store: label, operation, reason: 'a secret is missing right after it was written', retryable: true });
    }
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
