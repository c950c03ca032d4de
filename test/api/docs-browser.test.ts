import { accessSync, constants } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { startApiStack, type ApiStack } from './support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('Swagger UI at /docs works in a real browser under its security headers', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    try {
      accessSync(CHROMIUM, constants.X_OK);
    } catch {
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (bash .ci/run does) or set CHROMIUM_PATH`);
    }
    api = await startApiStack();
    app = await api.app();
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('renders every operation, breaks no CSP rule, and calls the API with a pasted token', async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(message.text());
    });
    const response = await page.goto(`${url}/docs`);
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    expect(response?.headers()['x-content-type-options']).toBe('nosniff');
    await page.locator('.opblock-summary-path', { hasText: '/service-tokens/{name}/revoke' }).waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(15);

    // Authorize with the client token, then "Try it out" on GET /service-tokens.
    await page.click('button.authorize');
    await page.fill('.auth-container input', api.stack.auth.authorization.replace(/^Bearer /, ''));
    await page.click('.auth-btn-wrapper button.authorize');
    await page.click('.btn-done');
    const operation = page.locator('#operations-service-tokens-get_service_tokens');
    await operation.locator('.opblock-summary').click();
    await operation.locator('button.try-out__btn').click();
    await operation.locator('button.execute').click();
    await operation.locator('.live-responses-table .response-col_status', { hasText: '200' }).waitFor();
    expect(await operation.locator('.live-responses-table').textContent()).toContain(api.tokenName);
    expect(problems).toEqual([]);
  });
});
