import type Cloudflare from 'cloudflare';
import { assembleStore } from './assemble-store';
import { fingerprintCredential } from './fingerprint';
import type { PropagationStore, SecretsStoreTarget, ServiceTokenCredential, WriteReceipt } from './store-types';

const FINGERPRINT_IN_COMMENT = /\bsha256:[0-9a-f]{16}\b/;

interface StoredSecret {
  id: string;
  name: string;
  comment?: string | undefined;
}

/**
 * Secrets Store never returns a value, so each write puts the credential's fingerprint in the
 * secret's `comment` in the same PATCH (or create) as the value: the API applies both together,
 * so the comment tells which credential our last write stored. It cannot tell whether someone
 * changed the value since without touching the comment; readBack says `recorded-fingerprint`.
 * The fingerprint is safe to store there (see fingerprint.ts).
 */
export function createSecretsStoreStore(
  target: SecretsStoreTarget,
  client: Cloudflare,
  accountId: string,
): PropagationStore {
  const { storeId, names, scopes } = target;
  const label = `secrets-store:${accountId}/${storeId}`;
  const secrets = client.secretsStore.stores.secrets;

  async function ours(): Promise<Map<string, StoredSecret>> {
    const found = new Map<string, StoredSecret>();
    for await (const secret of secrets.list(storeId, { account_id: accountId, per_page: 50 })) {
      if (secret.status !== 'deleted' && (secret.name === names.clientId || secret.name === names.clientSecret)) {
        found.set(secret.name, secret);
      }
    }
    return found;
  }

  function recordedFingerprint(found: ReadonlyMap<string, StoredSecret>): string | null {
    const [id, secret] = [names.clientId, names.clientSecret].map((name) => FINGERPRINT_IN_COMMENT.exec(found.get(name)?.comment ?? '')?.[0]);
    return id !== undefined && id === secret ? id : null;
  }

  async function put(credential: ServiceTokenCredential): Promise<WriteReceipt> {
    const fingerprint = fingerprintCredential(credential);
    const comment = `token-warden credential ${fingerprint}`;
    const found = await ours();
    const missing: Array<{ name: string; value: string; scopes: typeof scopes; comment: string }> = [];
    const values: ReadonlyArray<readonly [string, string]> = [
      [names.clientId, credential.clientId],
      [names.clientSecret, credential.clientSecret],
    ];
    for (const [name, value] of values) {
      const existing = found.get(name);
      if (existing === undefined) missing.push({ name, value, scopes, comment });
      else await secrets.edit(existing.id, { account_id: accountId, store_id: storeId, value, comment, scopes });
    }
    // After a create whose response was lost, the retry finds the secrets and edits them.
    if (missing.length > 0) await secrets.create(storeId, { account_id: accountId, body: missing });
    return { store: label, fingerprint, changed: true, expected: { evidence: 'recorded-fingerprint', fingerprint } };
  }

  return assembleStore({
    kind: 'secrets-store',
    label,
    put,
    read: async () => ({ evidence: 'recorded-fingerprint', fingerprint: recordedFingerprint(await ours()) }),
  });
}
