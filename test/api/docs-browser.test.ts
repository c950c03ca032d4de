import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { launchChromium, pageWithErrors } from '../support/browser';
import { startApiStack, type ApiStack } from './support';

describe('Swagger UI at /docs works in a real browser under its security headers', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    api = await startApiStack();
    app = await api.app();
    url = await app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('renders every operation, breaks no CSP rule, and calls the API with a pasted token', async () => {
    const { page, errors: problems } = await pageWithErrors(browser);
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
