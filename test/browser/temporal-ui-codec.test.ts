import { accessSync, constants } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { createUiIdentityVerifier } from '../../src/api/ui-identity';
import { parseEnvironment } from '../../src/config';
import { temporalUiOrigins, uiIdentitySettings } from '../../src/runtime/temporal-ui';
import { resolveTemporalCli } from '../../src/temporal/cli-binary';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';
import { createTemporalClient } from '../../src/temporal/connection';
import { freePort, startDevServer, type RunningDevServer } from '../../src/temporal/dev-server';
import { startApiStack, type ApiStack } from '../api/support';
import { startIdentityProvider, type IdentityProvider } from '../support/identity-provider';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const AUD = 'temporal-ui-access-app-aud';

/**
 * The Temporal UI as deployed: its own port (not 8233), the codec endpoint configured on the
 * server, users signed in through Cloudflare Access (the CF_Authorization cookie, sent because
 * the UI includes cross-origin credentials). An operator opening a rotation run sees its input
 * decrypted; without the login the UI gets 401 and shows nothing decrypted.
 */
describe('Temporal UI decodes token-warden payloads through /codec', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let idp: IdentityProvider;
  let temporal: RunningDevServer;
  let browser: Browser;
  let runUrl: string;
  let codecEndpoint: string;
  const marker = `ui-decode-${randomBytes(6).toString('hex')}`;

  beforeAll(async () => {
    accessSync(CHROMIUM, constants.X_OK);
    idp = await startIdentityProvider();
    const [uiPort, apiPort, temporalPort] = [await freePort(), await freePort(), await freePort()];
    // Configured as an operator would: the UI's port, Access's team domain and AUD.
    const env = parseEnvironment({
      TEMPORAL_UI_PORT: String(uiPort),
      CF_ACCESS_TEAM_DOMAIN: idp.issuer,
      CF_ACCESS_AUD: AUD,
    });
    api = await startApiStack();
    app = await api.app({
      codec: {
        codec: new AesGcmPayloadCodec(api.stack.keys),
        uiOrigins: temporalUiOrigins(env),
        public: false,
        uiIdentity: createUiIdentityVerifier(uiIdentitySettings(env)),
      },
    });
    await app.listen({ host: '127.0.0.1', port: apiPort });
    codecEndpoint = `http://127.0.0.1:${apiPort}/codec`;
    temporal = await startDevServer({
      cli: await resolveTemporalCli({ explicitPath: process.env.TEMPORAL_CLI_PATH }),
      port: temporalPort,
      uiPort,
      uiCodecEndpoint: codecEndpoint,
    });
    // A rotation run as the API starts one: input encrypted by the data converter. No worker
    // polls its queue, so it stays open with its input in history.
    const connection = await Connection.connect({ address: temporal.address });
    try {
      const client = createTemporalClient(connection, 'default', api.stack.keys);
      const handle = await client.workflow.start('rotateServiceToken', {
        taskQueue: `nobody-${randomBytes(4).toString('hex')}`,
        workflowId: `rotate/ui-test/${randomBytes(4).toString('hex')}`,
        args: [
          {
            accountId: api.accountId,
            tokenName: api.tokenName,
            mode: 'normal',
            trigger: { actor: 'browser-test', reason: marker },
          },
        ],
      });
      runUrl = `${temporal.uiUrl}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}/history`;
    } finally {
      await connection.close();
    }
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu'],
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await temporal?.stop();
    await api?.close();
    await idp?.close();
  });

  async function openRun(cookie: string | undefined) {
    const context = await browser.newContext();
    if (cookie)
      await context.addCookies([
        {
          name: 'CF_Authorization',
          value: cookie,
          domain: '127.0.0.1',
          path: '/',
          httpOnly: true,
          secure: false,
          sameSite: 'Lax',
        },
      ]);
    // The UI server's TEMPORAL_CODEC_INCLUDE_CREDENTIALS=true, which the dev server has no flag for:
    // the same setting made in the UI's own codec settings (stored in localStorage).
    await context.addInitScript((endpoint) => {
      const storage = (globalThis as unknown as { localStorage: { setItem(k: string, v: string): void } }).localStorage;
      storage.setItem('overrideRemoteCodecConfiguration', 'true');
      storage.setItem('endpoint', JSON.stringify(endpoint));
      storage.setItem('includeCredentials', 'true');
    }, codecEndpoint);
    const page = await context.newPage();
    const codecAnswer = page.waitForResponse(
      (response) => response.url().endsWith('/codec/decode') && response.request().method() === 'POST',
      { timeout: 60_000 },
    );
    await page.goto(runUrl);
    return { page, context, codecAnswer };
  }

  it("shows a rotation run's input decrypted to a user signed in through Access", async () => {
    const jwt = await idp.sign({ email: 'ops@example.com', sub: 'u1' }, { audience: AUD });
    const { page, context, codecAnswer } = await openRun(jwt);
    try {
      expect((await codecAnswer).status()).toBe(200);
      await page.getByText(marker).first().waitFor({ timeout: 60_000 });
    } finally {
      await context.close();
    }
  }, 90_000);

  it('shows nothing decrypted without the login: the codec answers 401', async () => {
    const { page, context, codecAnswer } = await openRun(undefined);
    try {
      // The UI can read the refusal (CORS headers on it), and shows the payload still encrypted.
      expect((await codecAnswer).status()).toBe(401);
      await page.getByText('rotate/ui-test/').first().waitFor({ timeout: 30_000 });
      await page.waitForLoadState('networkidle').catch(() => undefined);
      expect(await page.content()).not.toContain(marker);
    } finally {
      await context.close();
    }
  }, 90_000);
});
