import { fingerprintCredential, type ServiceTokenCredential } from '../../src/stores';
import { apiTokenFamily, readApiTokenFile } from './api-token-world';
import type { CheckInputs, TokenFinal } from './checks';

/** What Cloudflare's verify endpoint answers a consumer presenting `value`: its status and the token's id. */
async function verify(url: string, value: string): Promise<{ status: number; id?: string; active: boolean }> {
  const response = await fetch(url, { headers: { authorization: `Bearer ${value}` } });
  const body = (await response.json().catch(() => ({}))) as { result?: { id?: string; status?: string } };
  return { status: response.status, id: body.result?.id, active: body.result?.status === 'active' };
}

/**
 * Invariants 1–3 for the API tokens at the end of a chaos run: one token of the family left in
 * Cloudflare (no orphaned successor, no old token), every store holding its id and a value
 * Cloudflare accepts, token-warden knowing that value as current, no staged value left behind.
 */
export async function checkApiTokens(input: CheckInputs, violations: string[]): Promise<TokenFinal[]> {
  const { sim, world } = input;
  const finals: TokenFinal[] = [];
  for (const token of world.apiTokens) {
    const family = apiTokenFamily(sim, token, world.accountId);
    if (family.length !== 1)
      violations.push(
        `${token.name}: ${family.length} API tokens of its family in Cloudflare (${family.map((t) => t.name).join(', ')}); want exactly 1`,
      );
    const live = family.length === 1 ? family[0] : undefined;
    let agreeing = 0;
    const held: ServiceTokenCredential[] = [];
    for (const file of token.files) {
      const credential = readApiTokenFile(file.realPath);
      if (!credential) {
        violations.push(`${token.name}: ${file.realPath} holds no API token`);
        continue;
      }
      held.push(credential);
      const answer = await verify(token.verifyUrl, credential.clientSecret);
      if (answer.status === 200 && answer.active && answer.id === live?.id && credential.clientId === live?.id)
        agreeing += 1;
      else
        violations.push(
          `${token.name}: ${file.realPath} holds ${fingerprintCredential(credential)} (id ${credential.clientId}); verify answers ${answer.status} for ${answer.id ?? 'no token'}${answer.active ? '' : ' (not active)'}, the live token is ${live?.id ?? 'none'}`,
        );
    }
    const reference = held[0];
    if (held.some((c) => reference && (c.clientId !== reference.clientId || c.clientSecret !== reference.clientSecret)))
      violations.push(`${token.name}: the file stores disagree`);
    const key = { accountId: world.accountId, tokenName: token.name, credential: 'api-token' as const };
    const current = await input.pending.current(key);
    if (reference && current?.fingerprint !== fingerprintCredential(reference))
      violations.push(
        `${token.name}: token-warden's current value (${current?.fingerprint ?? 'none'}) is not what the stores hold (${fingerprintCredential(reference)})`,
      );
    const { rows } = await input.pool.query(
      `SELECT count(*)::int AS n FROM pending_secrets WHERE account_id = $1 AND token_name = $2 AND stage = 'pending'`,
      [world.accountId, `api-token:${token.name}`],
    );
    finals.push({
      name: token.name,
      strategy: `successor (${token.kind})`,
      tokens: family.length,
      liveCredentials: live ? 1 : 0,
      storesAgreeing: agreeing,
      stores: token.files.length,
      pendingLeftovers: Number(rows[0]?.n ?? 0),
    });
  }
  return finals;
}
