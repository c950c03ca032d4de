import { listAll } from '../../src/cloudflare/pages';

/** An SDK list as the `cloudflare` package pages it, counting the pages asked for. */
function sdkList(total: number, perPage: number, info: (page: number) => object) {
  let requests = 0;
  const page = (n: number) => {
    requests++;
    const items = Array.from({ length: Math.max(0, Math.min(perPage, total - (n - 1) * perPage)) }, (_, i) => i);
    return Promise.resolve({
      result_info: info(n),
      getPaginatedItems: () => items,
      getNextPage: () => page(n + 1),
    });
  };
  return { first: page(1), requests: () => requests };
}

describe('listAll over the SDK', () => {
  it('reads 250 items in 3 requests, never the empty page after the last', async () => {
    const list = sdkList(250, 100, (page) => ({ page, per_page: 100, total_pages: 3, total_count: 250 }));
    expect(await listAll(list.first, 100)).toHaveLength(250);
    expect(list.requests()).toBe(3);
  });

  it('stops on a full last page when Cloudflare says it is the last', async () => {
    const byPages = sdkList(200, 100, (page) => ({ page, per_page: 100, total_pages: 2 }));
    expect(await listAll(byPages.first, 100)).toHaveLength(200);
    expect(byPages.requests()).toBe(2);
    const byCount = sdkList(200, 100, (page) => ({ page, per_page: 100, total_count: 200 }));
    expect(await listAll(byCount.first, 100)).toHaveLength(200);
    expect(byCount.requests()).toBe(2);
  });

  it('asks for the next page after a full one when the answer does not say where the list ends', async () => {
    const list = sdkList(200, 100, () => ({}));
    expect(await listAll(list.first, 100)).toHaveLength(200);
    expect(list.requests()).toBe(3);
  });
});
