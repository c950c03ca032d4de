/** Page size of every list. */
export const PER_PAGE = 100;

interface ListPage<T> {
  /** Cloudflare's v4 envelope says where the list ends; the SDK types only page and per_page. */
  result_info?: { page?: number; per_page?: number; total_pages?: number; total_count?: number };
  getPaginatedItems(): T[];
  getNextPage(): Promise<ListPage<T>>;
}

/**
 * Every page of a list, and not one request more: the SDK's own iteration asks for the page after
 * the last until one comes back empty, a wasted request per list (one per app in a scan).
 */
export async function listAll<T>(first: PromiseLike<ListPage<T>>): Promise<T[]> {
  const items: T[] = [];
  for (let page = await first; ; page = await page.getNextPage()) {
    const batch = page.getPaginatedItems();
    items.push(...batch);
    const info = page.result_info ?? {};
    if (batch.length === 0) return items;
    if (info.page !== undefined && info.total_pages !== undefined) {
      if (info.page >= info.total_pages) return items;
    } else if (info.total_count !== undefined) {
      if (items.length >= info.total_count) return items;
    } else if (batch.length < (info.per_page ?? PER_PAGE)) {
      return items;
    }
  }
}
