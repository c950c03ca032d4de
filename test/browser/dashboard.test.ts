import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { launchChromium, pageWithErrors } from '../support/browser';
import { apiTokenRotationWorkflowId, findApiToken, rotationWorkflowId } from '../../src/inventory';
import { fanOutProgressQuery } from '../../src/workflows/fan-out';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';
import { TEST_TOKEN } from '../support/stack';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

describe('dashboard in a real browser', () => {
  let f: RotationFixture;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    f = await startRotationFixture([
      { name: 'web-app', strategy: 'rotate-secret', stores: 'file' },
      { name: 'slow-app', strategy: 'rotate-secret', stores: 'file', propagationWait: '1 hour' },
    ]);
    app = await f.stack.app({ temporalUiUrl: 'http://127.0.0.1:8233' });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });

  it('asks for a token, refuses a wrong one, lists service tokens and rotates one with a click', async () => {
    const { page, errors } = await pageWithErrors(browser);
    await page.goto(url);
    await page.fill('#token', 'not-the-token');
    await page.click('#login button');
    await page.waitForSelector('#login:not([hidden])');
    expect(await page.textContent('#notice')).toContain('That token was refused.');
    errors.length = 0; // the refused token's 401s are expected; nothing else may fail

    await page.fill('#token', TEST_TOKEN);
    await page.click('#login button');
    const row = page.locator('#service-tokens tr', { hasText: 'web-app' });
    await row.waitFor();
    expect(await row.textContent()).toContain('rotate-secret');

    await row.locator('button', { hasText: 'Rotate' }).click();
    await page.locator('#notice', { hasText: 'Rotation of web-app started' }).waitFor();
    await page.locator('#rotations tr', { hasText: 'completed' }).waitFor({ timeout: 30_000 });
    expect(await page.locator('#rotations tr', { hasText: 'web-app' }).first().textContent()).toContain(
      'resolve → issue → propagate → verify → wait → retire → finish',
    );
    expect(await f.probe(f.fileCredential('web-app'))).toBe(200);
    // Every rotation links to its own run in the Temporal UI.
    const [run] = await f.stack.rotations.listRotations({ tokenName: 'web-app', limit: 1 });
    const link = page.locator('#rotations tr', { hasText: 'web-app' }).first().locator('a', { hasText: 'run' });
    expect(await link.getAttribute('href')).toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(run!.workflowId)}/${run!.runId}/history`,
    );
    await page.screenshot({ path: path.join(os.tmpdir(), 'token-warden-dashboard.png'), fullPage: true });
    // The CSP allows exactly the page's own script and style: no violations, no script errors.
    expect(errors).toEqual([]);
  });

  it("shows a fleet rotation's progress while it runs", async () => {
    const fanOut = await f.stack.client.workflow.start('rotateAllServiceTokens', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/rotate-all/${Date.now()}`,
      args: [{ trigger: { actor: 'schedule:test-monthly' } }],
    });
    try {
      // web-app finishes; slow-app waits an hour for its consumers.
      // The query answers once the fan-out has read the inventory.
      const completed = () =>
        fanOut.query(fanOutProgressQuery).then(
          (p) => p.completed,
          () => 0,
        );
      while ((await completed()) < 1) await new Promise((r) => setTimeout(r, 200));
      const page = await browser.newPage();
      await page.goto(url);
      await page.fill('#token', TEST_TOKEN);
      await page.click('#login button');
      const row = page.locator('#fan-outs tr', { hasText: 'rotateAllServiceTokens' }).first();
      await row.waitFor();
      const cells = await row.locator('td').allTextContents();
      expect(cells.slice(2, 7)).toEqual(['running', '1 of 2', '1', '0', '0']);
      expect(cells[7]).toMatch(/^\d+ min$/);
    } finally {
      await fanOut.terminate('test over');
      await f.stack.client.workflow
        .getHandle(rotationWorkflowId(f.accountId, 'slow-app'))
        .terminate('test over')
        .catch(() => undefined);
    }
  });

  it('lists the credentials discovery found that nobody manages or that never expire', async () => {
    f.stack.sim.state.createServiceToken({ accountId: f.accountId, name: 'hand-made-bot', expiresAt: null });
    await f.stack.client.workflow.execute('discoverCredentials', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/discover/${Date.now()}`,
      args: [{ trigger: { actor: 'schedule:test-discovery' } }],
    });
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.goto(url);
    await page.fill('#token', TEST_TOKEN);
    await page.click('#login button');
    const row = page.locator('#discovered tr', { hasText: 'hand-made-bot' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    expect([cells[1], cells[3], cells[4]]).toEqual(['service-token', 'unmanaged', 'never']);
    // Managed tokens with an expiry, in use, are not listed.
    expect(await page.locator('#discovered tr', { hasText: 'web-app' }).count()).toBe(0);
    expect(await page.textContent('#discovered-at')).toMatch(/^Last discovery .*\(\d+ Cloudflare requests\)\.$/);
    expect(errors).toEqual([]);
  });
});

describe('dashboard in a real browser: API tokens', () => {
  let f: ApiTokenFixture;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    f = await startApiTokenFixture([
      { name: 'deploy-bot', kind: 'account', stores: 'file' },
      { name: 'warden', kind: 'user', self: true, stores: 'file' },
    ]);
    const app = await f.stack.app({ temporalUiUrl: 'http://127.0.0.1:8233' });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });
  afterAll(async () => {
    await browser?.close();
    await f?.close();
  });

  it("lists API tokens with token-warden's own marked, shows a check's expiry and rotates one with a click", async () => {
    const { page, errors } = await pageWithErrors(browser);
    await page.goto(url);
    await page.fill('#token', TEST_TOKEN);
    await page.click('#login button');
    const row = page.locator('#api-tokens tr', { hasText: 'deploy-bot' });
    await row.waitFor();
    const own = page.locator('#api-tokens tr', { hasText: 'warden' });
    expect(await own.locator('.badge.own').count()).toBe(1);
    expect(await row.locator('.badge.own').count()).toBe(0);
    // Nothing recorded yet: no expiry shown, and the page started no check to find one.
    expect((await row.locator('td').allTextContents()).slice(2, 5)).toEqual(['account', '—', '—']);

    await page.click('#check');
    await page.locator('#notice', { hasText: 'Check finished' }).waitFor({ timeout: 30_000 });
    await row.locator('td', { hasText: /^\d+ days$/ }).waitFor();
    expect((await row.locator('td').allTextContents())[4]).toMatch(/^\d{4}-\d{2}-\d{2}$/);

    const old = f.tokens['deploy-bot']!;
    await row.locator('button', { hasText: 'Rotate' }).click();
    await page.locator('#notice', { hasText: 'Rotation of deploy-bot started' }).waitFor();
    await row.locator('.badge.completed').waitFor({ timeout: 30_000 });
    const [run] = await f.stack.rotations.listRotations({ tokenName: 'deploy-bot', kind: 'api-token', limit: 1 });
    const workflowId = apiTokenRotationWorkflowId(findApiToken(f.stack.inventory, f.accountId, 'deploy-bot')!);
    expect(await row.locator('a', { hasText: 'run' }).getAttribute('href')).toBe(
      `http://127.0.0.1:8233/namespaces/default/workflows/${encodeURIComponent(workflowId)}/${run!.runId}/history`,
    );
    expect(f.fileValue('deploy-bot')).not.toBe(old.value);
    expect(await f.verify('deploy-bot', f.fileValue('deploy-bot'))).toBe(200);
    // The expiry shown is the recorded check's, which saw the token before it was rotated: the page says so.
    expect((await row.locator('td').allTextContents())[3]).toMatch(/^\d+ days \(checked before the last rotation\)$/);
    await page.screenshot({ path: path.join(os.tmpdir(), 'token-warden-dashboard-api-tokens.png'), fullPage: true });
    expect(errors).toEqual([]);
  });
});
