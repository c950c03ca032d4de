import type { CountedApiRequest } from '@token-warden/cloudflare-simulator';
import { apiCall } from './phases';
import type { BenchStack } from './stack';

/**
 * The daily discovery has run, as in production: a revoke finds its token's id recorded and
 * rotates it first (a token created since the last run is listed first, one request more).
 */
export async function discoverFirst(stack: BenchStack, notes: string[], before: string): Promise<void> {
  const answer = await apiCall(stack, 'POST', '/inventory/discover');
  const workflowId = (answer.json as { data?: { workflow_id?: string } }).data?.workflow_id;
  if (answer.status !== 202 || !workflowId) {
    notes.push(`discovery before ${before} answered ${answer.status}: the revokes list first`);
    return;
  }
  await stack.client.workflow.getHandle(workflowId).result();
}

/** Whether the revoke of `tokenId` listed the account's service tokens before its rotate reached Cloudflare. */
export function listsBeforeRotate(requests: readonly CountedApiRequest[], accountId: string, tokenId: string): boolean {
  const list = `/accounts/${accountId}/access/service_tokens`;
  const rotate = requests.findIndex((e) => e.method === 'POST' && e.path === `${list}/${tokenId}/rotate`);
  return requests.slice(0, rotate < 0 ? undefined : rotate).some((e) => e.method === 'GET' && e.path === list);
}
