import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { API_TOKEN_NAMES, apiTokenTargetSchema } from '../../src/api-token-rotate-config';
import type { PendingSecretStore } from '../../src/secrets/pending-secrets';
import { createStore, propagationTargetSchema, type ServiceTokenCredential, type StoreDeps } from '../../src/stores';
import { parseCredentialFile } from '../../src/stores/file-format';
import type { ChaosFile, FlakyDirectory } from './world';

/** An API token the chaos run rotates (successor strategy), with the file stores its consumer reads. */
export interface ChaosApiToken {
  name: string;
  kind: 'account' | 'user';
  initialTokenId: string;
  files: ChaosFile[];
  targets: Array<Record<string, unknown>>;
  /** Where a consumer of this token checks it: Cloudflare's verify endpoint of its kind. */
  verifyUrl: string;
  /** token-warden's own token: the workers read it from the first file (CLOUDFLARE_API_TOKEN_FILE). */
  self?: boolean;
}

/** The inventory name of token-warden's own token: the simulator's warden user token is named so. */
export const OWN_TOKEN = 'token-warden';

/** Permissions the chaos API tokens hold; the first is what the inventory requires. */
const PERMISSIONS = ['Workers Scripts Write', 'Account Settings Read'];

/**
 * `count` API tokens in the demo account, account-owned and the user's in turn, each with a
 * file store (every other one in the flaky directory too) and `rotate:` in the inventory. The
 * values Cloudflare issued are returned for adoption and never kept.
 */
export function createChaosApiTokens(
  sim: RunningSimulator,
  options: {
    count: number;
    accountId: string;
    storesDir: string;
    flaky: FlakyDirectory;
    propagationWait: string;
    /** token-warden's own token, rotated too (`self: true`) when given. */
    warden?: { id: string; value: string };
  },
): { tokens: ChaosApiToken[]; initial: Map<string, ServiceTokenCredential>; entries: unknown[] } {
  const { accountId } = options;
  const tokens: ChaosApiToken[] = [];
  const initial = new Map<string, ServiceTokenCredential>();
  const entries: unknown[] = [];
  for (let i = 0; i < options.count + (options.warden ? 1 : 0); i++) {
    const self = i === options.count;
    const name = self ? OWN_TOKEN : `chaos-api-${i}`;
    const kind = self || i % 2 === 1 ? 'user' : 'account';
    const created =
      self && options.warden
        ? options.warden
        : sim.state.createApiToken({
            owner: kind === 'user' ? 'user' : { accountId },
            name,
            accountId,
            permissions: PERMISSIONS,
            expiresOn: new Date(sim.clock.now() + 365 * 86_400_000),
          });
    initial.set(name, { clientId: created.id, clientSecret: created.value });
    const stable = path.join(options.storesDir, `${name}.env`);
    const files: ChaosFile[] = [{ path: stable, realPath: stable, flaky: false }];
    if (i % 2 === 0 || self)
      files.push({
        path: path.join(options.flaky.link, `${name}.env`),
        realPath: path.join(options.flaky.real, `${name}.env`),
        flaky: true,
      });
    const targets = files.map((f) => ({ kind: 'file', path: f.path }));
    tokens.push({
      name,
      kind,
      initialTokenId: created.id,
      files,
      targets,
      verifyUrl:
        kind === 'user' ? `${sim.baseURL}/user/tokens/verify` : `${sim.baseURL}/accounts/${accountId}/tokens/verify`,
      self,
    });
    entries.push({
      name,
      kind,
      id: created.id,
      secretFrom: { file: stable },
      requiredPermissions: self ? ['API Tokens Write'] : PERMISSIONS.slice(0, 1),
      self,
      rotate: { strategy: 'successor', propagationWait: options.propagationWait, targets },
    });
  }
  return { tokens, initial, entries };
}

/** Adoption of the API tokens: every store holds the token's value, and token-warden knows it. */
export async function adoptApiTokens(
  tokens: ChaosApiToken[],
  credentials: Map<string, ServiceTokenCredential>,
  deps: { accountId: string; storeDeps: StoreDeps; pending: Pick<PendingSecretStore, 'setCurrent'> },
): Promise<void> {
  for (const token of tokens) {
    const credential = credentials.get(token.name);
    if (!credential) throw new Error(`no initial value for ${token.name}`);
    for (const target of token.targets)
      await createStore(propagationTargetSchema.parse(apiTokenTargetSchema.parse(target)), deps.storeDeps, {
        accountId: deps.accountId,
      }).write(credential);
    await deps.pending.setCurrent(
      { accountId: deps.accountId, tokenName: token.name, credential: 'api-token' },
      credential,
    );
  }
}

/** What an API token's file store holds (id and value), or null when it holds no complete one. */
export function readApiTokenFile(file: string): ServiceTokenCredential | null {
  try {
    const halves = parseCredentialFile(readFileSync(file, 'utf8'), 'env', API_TOKEN_NAMES);
    return halves.clientId && halves.clientSecret
      ? { clientId: halves.clientId, clientSecret: halves.clientSecret }
      : null;
  } catch {
    return null;
  }
}

/** Tokens of a chaos API token's family in Cloudflare: the original and its successors (`{name}-{date}`). */
export function apiTokenFamily(sim: RunningSimulator, token: ChaosApiToken, accountId: string) {
  const owner = token.kind === 'user' ? ({ kind: 'user' } as const) : ({ kind: 'account', accountId } as const);
  return sim.state.apiTokens.list(owner).filter((t) => t.name === token.name || t.name.startsWith(`${token.name}-`));
}
