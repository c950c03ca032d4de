import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser } from 'playwright-core';
import { rotationWorkflowId } from '../../src/inventory';
import { fanOutProgressQuery } from '../../src/workflows/fan-out';
import { TEST_TOKEN } from '../support/stack';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('dashboard in a real browser', () => {
  let f: RotationFixture;
  let app: FastifyInstance;
  let url: string;
  let browser: Browser;

  beforeAll(async () => {
    try {
      accessSync(CHROMIUM, constants.X_OK);
    } catch {
      throw new Error(`no Chromium at ${CHROMIUM}: install Debian's chromium (bash .ci/run does) or set CHROMIUM_PATH`);
    }
    f = await startRotationFixture([
      { name: 'web-app', strategy: 'rotate-secret', stores: 'file' },
      { name: 'slow-app', strategy: 'rotate-secret', stores: 'file', propagationWait: '1 hour' },
    ]);
    app = await f.stack.app({ temporalUiUrl: 'http://127.0.0.1:8233' });
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
    await f?.close();
  });

  it('asks for a token, refuses a wrong one, lists service tokens and rotates one with a click', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
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
