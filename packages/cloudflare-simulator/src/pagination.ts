import { z } from 'zod';
import type { ResultInfo } from './envelopes';

export interface PageLimits {
  defaultPerPage: number;
  minPerPage: number;
  maxPerPage: number;
}

export const pageQuerySchema = z.object({
  page: z.coerce.number().int().min(1).optional(),
  per_page: z.coerce.number().int().min(1).optional(),
});

export type PageQuery = z.infer<typeof pageQuerySchema>;

/**
 * Cloudflare v4 page pagination. Past the last page the result is an empty array: the
 * SDK's auto-pagination asks for page+1 until it gets an empty page, so this is what makes
 * `for await` end.
 */
export function paginate<T>(
  items: readonly T[],
  query: PageQuery,
  limits: PageLimits,
): { result: T[]; resultInfo: ResultInfo } {
  const perPage = Math.min(limits.maxPerPage, Math.max(limits.minPerPage, query.per_page ?? limits.defaultPerPage));
  const page = query.page ?? 1;
  const start = (page - 1) * perPage;
  const result = items.slice(start, start + perPage);
  return {
    result,
    resultInfo: {
      page,
      per_page: perPage,
      count: result.length,
      total_count: items.length,
      total_pages: Math.max(1, Math.ceil(items.length / perPage)),
    },
  };
}
