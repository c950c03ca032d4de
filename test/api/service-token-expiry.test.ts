import { createServiceTokenExpiryReader, type ListServiceTokens } from '../../src/service-token-expiry';

/** The expiry listing is cached to spare the Cloudflare budget, but never across a rotation's end. */
describe('service-token expiry reader', () => {
  const inventory = {
    accounts: [
      {
        id: 'acc',
        name: 'acc',
        serviceTokens: [
          { name: 'web', zoneId: undefined },
          { name: 'ci', zoneId: undefined },
        ],
      },
    ],
  } as unknown as Parameters<typeof createServiceTokenExpiryReader>[0];

  function listing() {
    let id = 0;
    const calls: unknown[] = [];
    const list: ListServiceTokens = async (scope) => {
      calls.push(scope);
      id += 1;
      return [
        { id: `web-${id}`, name: 'web', expires_at: '2027-01-01T00:00:00Z' },
        { id: `ci-${id}`, name: 'ci', expires_at: null },
      ];
    };
    return { list, calls };
  }

  it('lists each account once per minute for any number of readers', async () => {
    const { list, calls } = listing();
    const read = createServiceTokenExpiryReader(inventory, list, 60_000);
    const [first] = await Promise.all([read(), read(), read()]);
    expect(await read()).toBe(first);
    expect(calls).toEqual([{ account_id: 'acc' }]);
    expect(first.map((t) => t.tokenId)).toEqual(['web-1', 'ci-1']);
  });

  it('lists again when a rotation ended after the listing, not for one that ended before', async () => {
    const { list, calls } = listing();
    const read = createServiceTokenExpiryReader(inventory, list, 60_000);
    const before = new Date(Date.now() - 1_000);
    await read();
    expect((await read({ changedSince: before }))[0]!.tokenId).toBe('web-1');
    const tick = () => new Promise((resolve) => setTimeout(resolve, 5));
    await tick();
    const after = new Date(); // a rotation ends after the first listing...
    await tick(); // ...and the next listing is taken after that
    expect((await read({ changedSince: after }))[0]!.tokenId).toBe('web-2');
    expect((await read({ changedSince: after }))[0]!.tokenId).toBe('web-2');
    expect(calls).toHaveLength(2);
  });
});
