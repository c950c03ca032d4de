import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSimulator } from '../src';
import { client, required } from './support';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'cf-sim-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('state file', () => {
  it('survives a restart without reseeding, and the demo credentials keep working', async () => {
    const stateFile = path.join(dir, 'state', 'simulator.json');
    const first = await startSimulator({ stateFile });
    const demo = required(first.demo);
    const made = first.state.createServiceToken({ accountId: demo.accountId, name: 'made before restart' });
    await first.close();

    const second = await startSimulator({ stateFile });
    try {
      expect(second.demo).toEqual(demo);
      expect(second.state.isServiceTokenCredentialValid(made.clientId, made.clientSecret)).toBe(true);
      const warden = client(second, required(demo.apiTokens.warden.value));
      const names = [];
      for await (const token of warden.zeroTrust.access.serviceTokens.list({ account_id: demo.accountId }))
        names.push(token.name);
      expect(names.filter((n) => n === 'made before restart')).toHaveLength(1);
      expect(names.filter((n) => n === 'ci-deploy')).toHaveLength(1);
    } finally {
      await second.close();
    }
  });

  it('reports a demo secret rotated since the seed as unknown (null) after a restart', async () => {
    const stateFile = path.join(dir, 'simulator.json');
    const first = await startSimulator({ stateFile });
    const demo = required(first.demo);
    const ci = required(demo.serviceTokens.find((t) => t.name === 'ci-deploy'));
    const rotated = await client(first, required(demo.apiTokens.warden.value)).zeroTrust.access.serviceTokens.rotate(
      ci.id,
      { account_id: demo.accountId },
    );
    await first.close();

    const second = await startSimulator({ stateFile });
    try {
      const again = required(second.demo);
      expect(again.serviceTokens.find((t) => t.id === ci.id)?.clientSecret).toBeNull();
      expect(again.serviceTokens.find((t) => t.name === 'chaos-consumer')?.clientSecret).toEqual(expect.any(String));
      expect(second.state.isServiceTokenCredentialValid(ci.clientId, required(rotated.client_secret))).toBe(true);
    } finally {
      await second.close();
    }
  });

  it('writes atomically, mode 0600, with secrets only in the demo record', async () => {
    const stateFile = path.join(dir, 'simulator.json');
    const sim = await startSimulator({ stateFile, seed: 'none' });
    expect(readdirSync(dir)).toEqual(['simulator.json']);
    const account = sim.state.createAccount();
    const token = sim.state.createApiToken({
      owner: 'user',
      name: 'not in the file',
      permissions: ['API Tokens Read'],
    });
    const serviceToken = sim.state.createServiceToken({ accountId: account.id, name: 'neither' });
    await sim.close();
    expect(readdirSync(dir)).toEqual(['simulator.json']);
    expect(statSync(stateFile).mode & 0o777).toBe(0o600);
    const text = readFileSync(stateFile, 'utf8');
    expect(text).toContain(token.id);
    expect(text).not.toContain(token.value);
    expect(text).not.toContain(serviceToken.clientSecret);
  });

  it('seeds the demo on request, once', async () => {
    const sim = await startSimulator({ seed: 'none' });
    try {
      expect(sim.demo).toBeUndefined();
      const seeded = sim.state.seedDemo();
      expect(sim.state.seedDemo()).toEqual(seeded);
      expect(Object.keys(sim.state.store.data.accounts)).toEqual([seeded.accountId]);
    } finally {
      await sim.close();
    }
  });

  it('refuses a state file that is not simulator state, with a message naming it', async () => {
    const stateFile = path.join(dir, 'broken.json');
    writeFileSync(stateFile, JSON.stringify({ hello: 'world' }));
    await expect(startSimulator({ stateFile })).rejects.toThrow(/broken\.json is not valid/);
  });
});
