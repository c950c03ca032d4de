import { ApplicationFailure } from '@temporalio/activity';
import type { Inventory } from '../config';
import { slackPayload, webhookPayload } from '../health/notification';
import type { TokenHealthReport } from '../health/report';

export type NotifyChannel = 'webhook' | 'slack';

export interface NotifyDeps {
  inventory: Pick<Inventory, 'notify'>;
  fetch?: typeof fetch;
}

/**
 * One POST per channel per call, so Temporal retries a failed channel without re-sending
 * to the one that worked. 4xx other than 408/429 will not get better: not retried.
 */
export function createNotifyActivities(deps: NotifyDeps) {
  return {
    async notifyTokenHealth(input: { channel: NotifyChannel; report: TokenHealthReport; reasons: string[] }): Promise<{ status: number }> {
      const url = input.channel === 'webhook' ? deps.inventory.notify.webhookUrl : deps.inventory.notify.slackWebhookUrl;
      if (!url) throw ApplicationFailure.create({ message: `no ${input.channel} URL is configured`, type: 'NotifyNotConfigured', nonRetryable: true });
      const body = input.channel === 'webhook' ? webhookPayload(input.report, input.reasons) : slackPayload(input.report, input.reasons);
      let response: Response;
      try {
        response = await (deps.fetch ?? fetch)(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'user-agent': 'token-warden' },
          body: JSON.stringify(body),
          signal: AbortSignal.timeout(10_000),
        });
        await response.arrayBuffer();
      } catch (error) {
        // The URL may carry a secret path (Slack's do): say which channel, not where.
        throw ApplicationFailure.create({ message: `${input.channel} notification failed: ${error instanceof Error ? error.name : 'network error'}`, type: 'NotifyUnavailable' });
      }
      if (!response.ok) {
        const permanent = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
        throw ApplicationFailure.create({ message: `${input.channel} notification answered HTTP ${response.status}`, type: permanent ? 'NotifyRejected' : 'NotifyUnavailable', nonRetryable: permanent });
      }
      return { status: response.status };
    },
  };
}
