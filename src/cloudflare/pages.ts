/** The contract's largest page for v4 lists (`per_page` 5–50): one page covers most listings. */
export const MAX_PAGE_SIZE = 50;

/** A v4 list answer as the SDK returns it: one page of results and Cloudflare's `result_info`. */
export interface ListedPage<T> {
  result: readonly T[];
  result_info: object;
}

/** Whether `page` was the last, judged without asking for the next one (which would be empty). */
export function isLastPage(listed: ListedPage<unknown>, page: number, pageSize = MAX_PAGE_SIZE): boolean {
  const info = listed.result_info;
  // The size the API used, should it cap ours lower than the contract says.
  const perPage =
    'per_page' in info && typeof info.per_page === 'number' && info.per_page > 0 ? info.per_page : pageSize;
  if (listed.result.length < perPage) return true;
  if ('total_pages' in info && typeof info.total_pages === 'number') return page >= info.total_pages;
  return 'total_count' in info && typeof info.total_count === 'number' && page * perPage >= info.total_count;
}

/**
 * Every item of a v4 list, a page of `pageSize` at a time, stopping at the last page rather than
 * reading the empty one after it as the SDK's `for await` does. `requests` is the number of
 * pages asked for: one, for a list that fits a page.
 */
export async function listEveryPage<T>(
  fetchPage: (page: number, pageSize: number) => Promise<ListedPage<T>>,
  pageSize = MAX_PAGE_SIZE,
): Promise<{ items: T[]; requests: number }> {
  const items: T[] = [];
  for (let page = 1; ; page++) {
    const listed = await fetchPage(page, pageSize);
    items.push(...listed.result);
    if (isLastPage(listed, page, pageSize)) return { items, requests: page };
  }
}

/** A page of a list as the SDK's auto-paginating list call returns it. */
interface SdkPage<T> {
  /** Cloudflare's v4 envelope says where the list ends; the SDK types only page and per_page. */
  result_info?: object;
  getPaginatedItems(): T[];
  getNextPage(): Promise<SdkPage<T>>;
}

/**
 * Every item of an SDK list call made with `per_page: pageSize`, judged by the same rule and
 * with no request after the last page (the SDK's own iteration reads the empty one after it).
 */
export async function listAll<T>(first: PromiseLike<SdkPage<T>>, pageSize: number): Promise<T[]> {
  const items: T[] = [];
  for (let page = await first, n = 1; ; page = await page.getNextPage(), n++) {
    const batch = page.getPaginatedItems();
    items.push(...batch);
    if (isLastPage({ result: batch, result_info: page.result_info ?? {} }, n, pageSize)) return items;
  }
}
