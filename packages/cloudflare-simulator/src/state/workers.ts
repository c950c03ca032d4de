import { badRequest, CloudflareApiError, CODE, notFound } from '../errors';
import { fingerprint, matchesFingerprint } from '../ids';
import type { AccountsRepo } from './accounts';
import type { SimStore } from './store';
import type { WorkerScriptRecord, WorkerSecretRecord } from './types';

export type WorkerSecretInput =
  | { name: string; type: 'secret_text'; text: string }
  | {
      name: string;
      type: 'secret_key';
      format: 'raw' | 'pkcs8' | 'spki' | 'jwk';
      algorithm: Record<string, unknown>;
      usages: string[];
      key_base64?: string;
      key_jwk?: Record<string, unknown>;
    };

/** Identifies a script: an account script (namespace null) or a dispatch-namespace script. */
export interface ScriptRef {
  accountId: string;
  namespace: string | null;
  name: string;
}

const scriptKey = (ref: ScriptRef): string => `${ref.accountId}:${ref.namespace ?? ''}:${ref.name}`;

/** Workers scripts and their secret bindings. Secret values are kept only as fingerprints. */
export class WorkersRepo {
  constructor(
    private readonly store: SimStore,
    private readonly accounts: AccountsRepo,
  ) {}

  createScript(ref: ScriptRef): WorkerScriptRecord {
    this.accounts.requireAccount(ref.accountId);
    const existing = this.store.data.workerScripts[scriptKey(ref)];
    if (existing) return existing;
    const now = this.store.nowIso();
    const script: WorkerScriptRecord = { ...ref, created_on: now, modified_on: now, version: 1, secrets: {} };
    this.store.mutate((data) => {
      data.workerScripts[scriptKey(ref)] = script;
    });
    return script;
  }

  requireScript(ref: ScriptRef): WorkerScriptRecord {
    const script = this.store.data.workerScripts[scriptKey(ref)];
    if (!script) throw notFound(`Worker ${ref.name}`, CODE.workerNotFound);
    return script;
  }

  listSecrets(ref: ScriptRef): WorkerSecretRecord[] {
    return Object.values(this.requireScript(ref).secrets);
  }

  requireSecret(ref: ScriptRef, name: string): WorkerSecretRecord {
    const secret = this.requireScript(ref).secrets[name];
    if (!secret)
      throw CloudflareApiError.of(404, CODE.notFound, `Secret binding "${name}" not found on Worker ${ref.name}`);
    return secret;
  }

  /** Adds or replaces one secret: a new Worker version. */
  putSecret(ref: ScriptRef, input: WorkerSecretInput): WorkerSecretRecord {
    const script = this.requireScript(ref);
    const record = toRecord(input);
    return this.store.mutate(() => {
      script.secrets[record.name] = record;
      this.bumpVersion(script);
      return record;
    });
  }

  deleteSecret(ref: ScriptRef, name: string): void {
    const script = this.requireScript(ref);
    this.requireSecret(ref, name);
    this.store.mutate(() => {
      delete script.secrets[name];
      this.bumpVersion(script);
    });
  }

  /** RFC 7396 merge: an object creates or replaces, null deletes, absent keeps. One new version. */
  patchSecrets(ref: ScriptRef, changes: Record<string, WorkerSecretInput | null>): WorkerSecretRecord[] {
    const script = this.requireScript(ref);
    const records = new Map<string, WorkerSecretRecord | null>();
    for (const [name, input] of Object.entries(changes)) {
      if (input !== null && input.name !== name) throw badRequest(`secrets.${name}: name must match its key`);
      records.set(name, input === null ? null : toRecord(input));
    }
    return this.store.mutate(() => {
      for (const [name, record] of records) {
        if (record === null) delete script.secrets[name];
        else script.secrets[name] = record;
      }
      this.bumpVersion(script);
      return Object.values(script.secrets);
    });
  }

  /** Test helper: does the stored secret hold this value? (compares fingerprints) */
  secretMatches(ref: ScriptRef, name: string, value: string): boolean {
    const secret = this.store.data.workerScripts[scriptKey(ref)]?.secrets[name];
    return secret !== undefined && matchesFingerprint(value, secret.valueHash);
  }

  private bumpVersion(script: WorkerScriptRecord): void {
    script.version += 1;
    script.modified_on = this.store.nowIso();
  }
}

function toRecord(input: WorkerSecretInput): WorkerSecretRecord {
  if (input.type === 'secret_text')
    return { name: input.name, type: 'secret_text', valueHash: fingerprint(input.text) };
  const material = input.key_base64 ?? (input.key_jwk ? JSON.stringify(input.key_jwk) : undefined);
  if (material === undefined) throw badRequest(`${input.name}: secret_key needs key_base64 or key_jwk`);
  return {
    name: input.name,
    type: 'secret_key',
    format: input.format,
    algorithm: input.algorithm,
    usages: input.usages,
    valueHash: fingerprint(material),
  };
}

/** Binding metadata as the API returns it: never the value. */
export function workerSecretView(secret: WorkerSecretRecord): Record<string, unknown> {
  if (secret.type === 'secret_text') return { name: secret.name, type: secret.type };
  return {
    name: secret.name,
    type: secret.type,
    format: secret.format,
    algorithm: secret.algorithm,
    usages: secret.usages,
  };
}
