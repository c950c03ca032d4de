import { targetLabel } from './target-label';
import { isLastPage, MAX_PAGE_SIZE as PAGE_SIZE } from '../cloudflare/pages';
import type Cloudflare from 'cloudflare';
import { assembleStore } from './assemble-store';
import { fingerprintCredential } from './fingerprint';
import { createMemoryStoreMemo, type StoreMemo } from './memo';
import { httpStatusOf, type StoreOperation } from './store-error';
import type {
  PropagationStore,
  SecretsStoreTarget,
  ServiceTokenCredential,
  WriteOptions,
  WriteReceipt,
} from './store-types';

const FINGERPRINT_IN_COMMENT = /\bsha256:[0-9a-f]{16}\b/;

interface StoredSecret {
  id: string;
  name: string;
  comment?: string | undefined;
}

/** One half of the credential and the secret it goes to. */
interface Half {
  name: string;
  value: string;
}

/**
 * Secrets Store never returns a value, so each write puts the credential's fingerprint in the
 * secret's `comment` in the same PATCH (or create) as the value: the API applies both together,
 * so the comment tells which credential our last write stored. It cannot tell whether someone
 * changed the value since without touching the comment; readBack says `recorded-fingerprint`.
 * The fingerprint is safe to store there (see fingerprint.ts).
 *
 * Requests: editing a secret takes its id, which only a list tells, so the ids are kept in the
 * memo (store + name → id) and a write is then one PATCH per half that may have changed (with
 * `clientIdUnchanged`, the client secret's alone). The store lists, once, only when the memo
 * lacks an id or an id it remembers is gone (404); every list is a single request (see ours()).
 * readBack is one list.
 */
export function createSecretsStoreStore(
  target: SecretsStoreTarget,
  client: Cloudflare,
  accountId: string,
  memo: StoreMemo = createMemoryStoreMemo(),
): PropagationStore {
  const { storeId, names, scopes } = target;
  const label = targetLabel({ ...target, accountId }, accountId);
  const secrets = client.secretsStore.stores.secrets;
  const search = commonPrefix(names.clientId, names.clientSecret);

  // The memo is only a cache (see memo.ts): when it fails, the store lists as if it knew nothing.
  const memoKey = (name: string) => `${label}/${name}`;
  const recall = (name: string) => memo.get(memoKey(name)).catch(() => undefined);
  const remember = (name: string, id: string) => memo.set(memoKey(name), id).catch(() => undefined);

  /**
   * Both of our secrets, in single requests: the largest page, narrowed by `search` to names that
   * share our names' prefix, and no further page once both are found or a page came back short
   * (the SDK's `for await` would always ask for one more, empty page).
   */
  async function ours(): Promise<Map<string, StoredSecret>> {
    const found = new Map<string, StoredSecret>();
    for (let page = 1; ; page++) {
      const listed = await secrets.list(storeId, {
        account_id: accountId,
        per_page: PAGE_SIZE,
        page,
        ...(search === '' ? {} : { search }),
      });
      for (const secret of listed.result) {
        if (secret.status !== 'deleted' && (secret.name === names.clientId || secret.name === names.clientSecret)) {
          found.set(secret.name, secret);
        }
      }
      if (found.size === 2 || isLastPage(listed, page)) return found;
    }
  }

  /**
   * The client secret's comment alone names the credential: its fingerprint covers the client id
   * too, so a write that left an unchanged id secret alone (its comment naming an older credential
   * with the same id) still reads back in full. The id secret must exist, though, or the store
   * does not hold the credential.
   */
  function recordedFingerprint(found: ReadonlyMap<string, StoredSecret>): string | null {
    if (!found.has(names.clientId)) return null;
    return FINGERPRINT_IN_COMMENT.exec(found.get(names.clientSecret)?.comment ?? '')?.[0] ?? null;
  }

  async function edit(id: string, half: Half, comment: string): Promise<void> {
    await secrets.edit(id, { account_id: accountId, store_id: storeId, value: half.value, comment, scopes });
  }

  /**
   * Edits with the remembered ids; returns the halves still to write, all of them when the memo
   * lacks an id (even the unchanged id secret's: a secret never seen may not exist) and the rest
   * from the first remembered id that is gone (404).
   */
  async function editRemembered(halves: readonly Half[], comment: string): Promise<readonly Half[]> {
    const idOfId = await recall(names.clientId);
    const idOfSecret = await recall(names.clientSecret);
    if (idOfId === undefined || idOfSecret === undefined) return halves;
    for (const [i, half] of halves.entries()) {
      try {
        await edit(half.name === names.clientId ? idOfId : idOfSecret, half, comment);
      } catch (error) {
        if (httpStatusOf(error) === 404) return halves.slice(i);
        throw error;
      }
    }
    return [];
  }

  /**
   * One list for the ids (the memo learns them), then an edit of each half that exists and one
   * create for the rest. An id secret the list shows missing is written even when the caller
   * said it was unchanged.
   */
  async function writeListed(halves: readonly Half[], idHalf: Half, comment: string): Promise<void> {
    const found = await ours();
    for (const secret of found.values()) await remember(secret.name, secret.id);
    const idMissing = !found.has(idHalf.name) && !halves.some((half) => half.name === idHalf.name);
    const missing: Array<{ name: string; value: string; scopes: typeof scopes; comment: string }> = [];
    for (const half of idMissing ? [idHalf, ...halves] : halves) {
      const existing = found.get(half.name);
      if (existing === undefined) missing.push({ name: half.name, value: half.value, scopes, comment });
      else await edit(existing.id, half, comment);
    }
    if (missing.length === 0) return;
    // After a create whose answer was lost, the retry's list finds the secrets and edits them
    // (a name is unique in a store, so a second create would fail with 409 and be retried).
    const created = await secrets.create(storeId, { account_id: accountId, body: missing });
    for (const secret of created.result) await remember(secret.name, secret.id);
  }

  async function put(
    credential: ServiceTokenCredential,
    _operation: StoreOperation,
    options: WriteOptions,
  ): Promise<WriteReceipt> {
    const fingerprint = fingerprintCredential(credential);
    const comment = `token-warden credential ${fingerprint}`;
    const idHalf: Half = { name: names.clientId, value: credential.clientId };
    const secretHalf: Half = { name: names.clientSecret, value: credential.clientSecret };
    // The id first, then the client secret, whose comment is what readBack reports.
    const halves = options.clientIdUnchanged === true ? [secretHalf] : [idHalf, secretHalf];
    const left = await editRemembered(halves, comment);
    if (left.length > 0) await writeListed(left, idHalf, comment);
    return { store: label, fingerprint, changed: true, expected: { evidence: 'recorded-fingerprint', fingerprint } };
  }

  return assembleStore({
    kind: 'secrets-store',
    label,
    put,
    read: async () => ({ evidence: 'recorded-fingerprint', fingerprint: recordedFingerprint(await ours()) }),
  });
}

/**
 * The list's `search` matches a substring of a secret's name or comment. The names' common
 * prefix is a substring of both (and would match even if the API matched only prefixes), so the
 * answer holds both of our secrets and few others; names are compared exactly afterwards.
 */
function commonPrefix(a: string, b: string): string {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}
