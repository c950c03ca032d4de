import type { Inventory } from '../config';
import { slackPayload, webhookPayload } from '../health/notification';
import type { TokenHealthReport } from '../health/report';
import { permanentFailure, retryableFailure } from './failure-types';

export type NotifyChannel = 'webhook' | 'slack';

const URL_OF: Record<NotifyChannel, 'webhookUrl' | 'slackWebhookUrl'> = {
  webhook: 'webhookUrl',
  slack: 'slackWebhookUrl',
};

/** The channels the inventory gives a URL for, in the order runs send to them. */
export const configuredChannels = (notify: Inventory['notify']): NotifyChannel[] =>
  (['webhook', 'slack'] as const).filter((channel) => notify[URL_OF[channel]]);

/** What a rotation tells operators; names, ids and fingerprints, never a secret. */
export interface RotationAlert {
  severity: 'info' | 'warning' | 'critical';
  event:
    | 'propagation-failing'
    | 'propagation-recovered'
    | 'rotation-failed'
    | 'rotation-compensated'
    | 'rotation-cancelled'
    | 'lost-secret-recovered'
    /** An API token was rolled but the new value was lost: the old value is dead, a successor replaces it. */
    | 'rolled-value-lost'
    | 'failed-after-retire'
    | 'emergency-revoked'
    | 'emergency-incomplete'
    /** Postgres refused a history or audit row of the run for its data: not stored. */
    | 'history-write-rejected'
    /** A history or audit row was stored with characters Postgres cannot store replaced. */
    | 'history-write-sanitized';
  message: string;
  accountId: string;
  tokenName: string;
  workflowId: string;
  runId: string;
}

export interface NotifyDeps {
  inventory: Pick<Inventory, 'notify'>;
  fetch?: typeof fetch;
}

/**
 * One POST per channel per call, so Temporal retries a failed channel without re-sending
 * to the one that worked. 4xx other than 408/429 will not get better: not retried.
 */
export function createNotifyActivities(deps: NotifyDeps) {
  async function post(channel: NotifyChannel, body: unknown): Promise<{ status: number }> {
    const url = deps.inventory.notify[URL_OF[channel]];
    if (!url) throw permanentFailure('NotifyNotConfigured', `no ${channel} URL is configured`);
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
      throw retryableFailure(
        'NotifyUnavailable',
        `${channel} notification failed: ${error instanceof Error ? error.name : 'network error'}`,
      );
    }
    if (!response.ok) {
      const permanent = response.status >= 400 && response.status < 500 && ![408, 429].includes(response.status);
      const message = `${channel} notification answered HTTP ${response.status}`;
      throw permanent ? permanentFailure('NotifyRejected', message) : retryableFailure('NotifyUnavailable', message);
    }
    return { status: response.status };
  }

  return {
    async notifyTokenHealth(input: {
      channel: NotifyChannel;
      report: TokenHealthReport;
      reasons: string[];
    }): Promise<{ status: number }> {
      return post(
        input.channel,
        input.channel === 'webhook'
          ? webhookPayload(input.report, input.reasons)
          : slackPayload(input.report, input.reasons),
      );
    },

    /** A rotation that needs a human: failed, only partly undone, or propagating too slowly. */
    async notifyRotation(input: { channel: NotifyChannel; alert: RotationAlert }): Promise<{ status: number }> {
      const { alert } = input;
      const icon = alert.severity === 'critical' ? '🚨' : alert.severity === 'warning' ? '⚠️' : 'ℹ️';
      return post(
        input.channel,
        input.channel === 'webhook'
          ? { source: 'token-warden', kind: 'service-token-rotation', ...alert }
          : {
              text: `${icon} token-warden: ${alert.message} (service token ${alert.tokenName}, account ${alert.accountId}, workflow ${alert.workflowId})`,
            },
      );
    },
  };
}
