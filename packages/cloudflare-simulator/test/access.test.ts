import { probe, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

beforeEach(async () => {
  f = await startDemo();
});

afterEach(async () => {
  await f.sim.close();
});

const demoToken = (name: string): { id: string; clientId: string; clientSecret: string } => {
  const token = required(f.demo.serviceTokens.find((t) => t.name === name));
  return { id: token.id, clientId: token.clientId, clientSecret: required(token.clientSecret) };
};

/** Every policy naming the token, found the way the contract's notes describe: reusable list, then each app's list. */
async function policiesNaming(tokenId: string): Promise<Array<{ id: string; reusable: boolean; appId?: string }>> {
  const account_id = f.demo.accountId;
  const access = f.warden.zeroTrust.access;
  const names = (rules: unknown[] | undefined): boolean =>
    (rules ?? []).some((r) => JSON.stringify(r) === JSON.stringify({ service_token: { token_id: tokenId } }));
  const found = new Map<string, { id: string; reusable: boolean; appId?: string }>();
  const reusable = new Set<string>();
  for await (const policy of access.policies.list({ account_id })) {
    reusable.add(required(policy.id));
    if (names(policy.include) || names(policy.require) || names(policy.exclude))
      found.set(required(policy.id), { id: required(policy.id), reusable: true });
  }
  for await (const app of access.applications.list({ account_id })) {
    const appId = required(app.id);
    for await (const policy of access.applications.policies.list(appId, { account_id })) {
      const id = required(policy.id);
      if (!reusable.has(id) && (names(policy.include) || names(policy.require) || names(policy.exclude)))
        found.set(id, { id, reusable: false, appId });
    }
  }
  return [...found.values()];
}

describe('Access policies and the probe', () => {
  it('seeds an app whose reusable and app-scoped policies let the demo tokens in', async () => {
    for (const name of ['ci-deploy', 'chaos-consumer', 'backup-job']) {
      const token = demoToken(name);
      expect(await probe(f.sim, f.demo.accessApp.id, token.clientId, token.clientSecret)).toBe(200);
    }
    const legacy = demoToken('legacy-zone-probe');
    expect(await probe(f.sim, f.demo.accessApp.id, legacy.clientId, legacy.clientSecret)).toBe(403);
  });

  it('finds the policies naming a token through the API, reusable and app-scoped', async () => {
    expect(await policiesNaming(demoToken('ci-deploy').id)).toEqual([
      { id: f.demo.accessPolicies.reusable.id, reusable: true },
    ]);
    expect(await policiesNaming(demoToken('backup-job').id)).toEqual([
      { id: f.demo.accessPolicies.appScoped.id, reusable: false, appId: f.demo.accessApp.id },
    ]);
    expect(f.sim.state.policiesNamingServiceToken(f.demo.accountId, demoToken('chaos-consumer').id)).toEqual([
      { id: f.demo.accessPolicies.reusable.id, name: f.demo.accessPolicies.reusable.name, reusable: true },
    ]);
  });

  it('adds a new token beside the old one in a reusable policy and removes the old one (blue/green)', async () => {
    const account_id = f.demo.accountId;
    const old = demoToken('ci-deploy');
    const fresh = await f.warden.zeroTrust.access.serviceTokens.create({ account_id, name: 'ci-deploy-next' });
    const freshId = required(fresh.id);
    const policyId = f.demo.accessPolicies.reusable.id;
    const policy = await f.warden.zeroTrust.access.policies.get(policyId, { account_id });
    const body = { account_id, name: required(policy.name), decision: required(policy.decision) };
    await f.warden.zeroTrust.access.policies.update(policyId, {
      ...body,
      include: [...required(policy.include), { service_token: { token_id: freshId } }],
    });
    expect(await probe(f.sim, f.demo.accessApp.id, required(fresh.client_id), required(fresh.client_secret))).toBe(200);
    expect(await probe(f.sim, f.demo.accessApp.id, old.clientId, old.clientSecret)).toBe(200);

    const without = required(policy.include).filter(
      (r) => JSON.stringify(r) !== JSON.stringify({ service_token: { token_id: old.id } }),
    );
    await f.warden.zeroTrust.access.policies.update(policyId, {
      ...body,
      include: [...without, { service_token: { token_id: freshId } }],
    });
    expect(await probe(f.sim, f.demo.accessApp.id, old.clientId, old.clientSecret)).toBe(403);
    expect(await policiesNaming(old.id)).toEqual([]);
  });

  it('edits app-scoped policies through the app route and refuses reusable ones there', async () => {
    const account_id = f.demo.accountId;
    const app_id = f.demo.accessApp.id;
    const backup = demoToken('backup-job');
    await f.warden.zeroTrust.access.applications.policies.update(f.demo.accessPolicies.appScoped.id, {
      account_id,
      app_id,
      name: 'backup job',
      decision: 'non_identity',
      include: [{ any_valid_service_token: {} }],
      exclude: [{ service_token: { token_id: backup.id } }],
    });
    expect(await probe(f.sim, app_id, backup.clientId, backup.clientSecret)).toBe(403);
    const legacy = demoToken('legacy-zone-probe');
    expect(await probe(f.sim, app_id, legacy.clientId, legacy.clientSecret)).toBe(200);

    await expect(
      f.warden.zeroTrust.access.applications.policies.update(f.demo.accessPolicies.reusable.id, {
        account_id,
        app_id,
        name: 'x',
        decision: 'non_identity',
        include: [{ any_valid_service_token: {} }],
      }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it('lets the first matching policy decide, so a deny ahead of an allow keeps a token out', async () => {
    const consumer = demoToken('chaos-consumer');
    f.sim.state.createAccessPolicy({
      accountId: f.demo.accountId,
      appId: f.demo.accessApp.id,
      name: 'deny consumer',
      decision: 'deny',
      include: [{ service_token: { token_id: consumer.id } }],
      precedence: 0,
    });
    expect(await probe(f.sim, f.demo.accessApp.id, consumer.clientId, consumer.clientSecret)).toBe(403);
  });

  it('refuses policy rules that name a token outside the account, and deleting a policy still in use', async () => {
    const account_id = f.demo.accountId;
    await expect(
      f.warden.zeroTrust.access.policies.create({
        account_id,
        name: 'ghost',
        decision: 'non_identity',
        include: [{ service_token: { token_id: '00000000-0000-4000-8000-000000000000' } }],
      }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      f.warden.zeroTrust.access.policies.delete(f.demo.accessPolicies.reusable.id, { account_id }),
    ).rejects.toMatchObject({
      status: 400,
    });
  });

  it('answers 403 on the probe without credentials and 404 for an unknown app', async () => {
    const bare = await fetch(f.sim.probeUrl(f.demo.accessApp.id));
    expect(bare.status).toBe(403);
    expect(await bare.json()).toMatchObject({ success: false, reason: 'missing_credentials' });
    const token = demoToken('ci-deploy');
    expect(await probe(f.sim, '00000000-0000-4000-8000-000000000000', token.clientId, token.clientSecret)).toBe(404);
    const nested = await fetch(`${f.sim.probeUrl(f.demo.accessApp.id)}/some/path?x=1`, {
      method: 'POST',
      headers: { 'CF-Access-Client-Id': token.clientId, 'CF-Access-Client-Secret': token.clientSecret },
    });
    expect(nested.status).toBe(200);
    expect(JSON.stringify(await nested.json())).not.toContain(token.clientSecret);
    expect(f.sim.calls.count('probe', 200)).toBeGreaterThanOrEqual(1);
  });

  it('records when a service token was last seen', async () => {
    const token = demoToken('chaos-consumer');
    expect(f.sim.state.getServiceToken(token.id)).toMatchObject({ last_seen_at: null });
    await probe(f.sim, f.demo.accessApp.id, token.clientId, token.clientSecret);
    expect(f.sim.state.getServiceToken(token.id)?.['last_seen_at']).toEqual(expect.any(String));
  });
});
