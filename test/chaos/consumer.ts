import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { API_TOKEN_NAMES } from '../../src/api-token-rotate-config';
import { parseCredentialFile } from '../../src/stores/file-format';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { consumerConfigSchema, type ConsumerConfig, type ConsumerEvent } from './consumer-protocol';

/**
 * The chaos suite's consumer: a process of its own that behaves like an application using the
 * stores. It keeps reading every file store and authenticating against the Access probe app with
 * what it finds, and reports (JSON lines on stdout) every moment a store held a credential the
 * app refused. Started by the engine with its configuration as argv[2]; it stops on SIGTERM, when
 * stdin closes (the engine is gone) or after `maxRunMs`, whichever comes first.
 */

/** The probe app's answer: `reason` says why it refused; verify's `result.status` says whether the token is active. */
const probeAnswer = z.looseObject({
  reason: z.string().optional(),
  result: z.looseObject({ status: z.string().optional() }).optional(),
});

interface Credential {
  clientId: string;
  clientSecret: string;
}

const emit = (event: ConsumerEvent) => process.stdout.write(`${JSON.stringify(event)}\n`);

const ACCESS_NAMES = { clientId: 'CF_ACCESS_CLIENT_ID', clientSecret: 'CF_ACCESS_CLIENT_SECRET' };

/** A store's credential: an Access service token's id and secret, or an API token's id and value. */
async function readStore(store: ConsumerConfig['stores'][number]): Promise<Credential | null> {
  try {
    const halves = parseCredentialFile(
      await readFile(store.file, 'utf8'),
      'env',
      store.verifyUrl ? API_TOKEN_NAMES : ACCESS_NAMES,
    );
    return halves.clientId && halves.clientSecret
      ? { clientId: halves.clientId, clientSecret: halves.clientSecret }
      : null;
  } catch {
    return null;
  }
}

const same = (a: Credential | null, b: Credential | null) =>
  a !== null && b !== null && a.clientId === b.clientId && a.clientSecret === b.clientSecret;

async function main(): Promise<void> {
  const config = consumerConfigSchema.parse(JSON.parse(process.argv[2] ?? '{}'));
  const stats = { probes: 0, accepted: 0, staleReads: 0, probeErrors: 0 };
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.on('close', stop);
  process.stdin.resume();
  const deadline = Date.now() + config.maxRunMs;

  /**
   * The app's answer; null when it could not be reached, or when Cloudflare's API answered with
   * something other than a verdict on the token (a 5xx or 429 is not the credential's fault).
   */
  async function probe(
    store: ConsumerConfig['stores'][number],
    credential: Credential,
  ): Promise<{ ok: boolean; status: number; reason: string | null } | null> {
    stats.probes += 1;
    try {
      const response = store.verifyUrl
        ? await fetch(store.verifyUrl, {
            headers: { authorization: `Bearer ${credential.clientSecret}` },
            signal: AbortSignal.timeout(5_000),
          })
        : await fetch(config.probeUrl, {
            headers: { 'CF-Access-Client-Id': credential.clientId, 'CF-Access-Client-Secret': credential.clientSecret },
            signal: AbortSignal.timeout(5_000),
          });
      const body = probeAnswer.safeParse(await response.json().catch(() => ({})));
      if (store.verifyUrl && response.status !== 200 && response.status !== 401 && response.status !== 403) {
        stats.probeErrors += 1;
        return null;
      }
      const inactive = store.verifyUrl && response.status === 200 && body.data?.result?.status !== 'active';
      if (inactive)
        return { ok: false, status: response.status, reason: `token ${body.data?.result?.status ?? 'status unknown'}` };
      if (response.status === 200) stats.accepted += 1;
      return { ok: response.status === 200, status: response.status, reason: body.data?.reason ?? null };
    } catch {
      stats.probeErrors += 1;
      return null;
    }
  }

  async function check(store: ConsumerConfig['stores'][number]): Promise<void> {
    const first = await readStore(store);
    if (!first) {
      // A rename is atomic, so a reader never sees a half-written file; look once more.
      if (!(await readStore(store)))
        emit({
          type: 'failure',
          kind: 'unreadable',
          token: store.token,
          file: store.file,
          at: Date.now(),
          status: null,
          reason: null,
          fingerprint: null,
        });
      return;
    }
    const answer = await probe(store, first);
    if (!answer || answer.ok) return;
    // Refused. What an application does: read the store again. If it changed meanwhile, the
    // refusal was of a credential the store no longer held (a stale read); if not, the store
    // held a credential Cloudflare refused.
    const again = await readStore(store);
    if (same(first, again)) {
      emit({
        type: 'failure',
        kind: 'rejected',
        token: store.token,
        file: store.file,
        at: Date.now(),
        status: answer.status,
        reason: answer.reason,
        fingerprint: fingerprintCredential(first),
      });
      return;
    }
    stats.staleReads += 1;
    if (!again) return;
    const retry = await probe(store, again);
    if (retry && !retry.ok && same(again, await readStore(store))) {
      emit({
        type: 'failure',
        kind: 'rejected',
        token: store.token,
        file: store.file,
        at: Date.now(),
        status: retry.status,
        reason: retry.reason,
        fingerprint: fingerprintCredential(again),
      });
    }
  }

  let lastStats = 0;
  // API tokens are checked every fifth round: verify spends the user's rate limit, as token-warden's own calls do.
  for (let round = 0; !stopping && Date.now() < deadline; round++) {
    const started = Date.now();
    await Promise.all(config.stores.filter((s) => !s.verifyUrl || round % 5 === 0).map(check));
    if (started - lastStats > 2_000) {
      emit({ type: 'stats', ...stats });
      lastStats = started;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, config.intervalMs - (Date.now() - started))));
  }
  emit({ type: 'stats', ...stats });
  process.exit(0);
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos consumer failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
