import { tokenLabel } from './evaluate';
import type { TokenHealthReport } from './report';

/**
 * What token-warden tells a webhook about a run that needs attention (degraded, unhealthy,
 * expiring, a failed heal, its own token). Never a token value: ids, names and states only.
 */
export function webhookPayload(report: TokenHealthReport, reasons: readonly string[]) {
  return {
    event: 'token_health',
    reasons: [...reasons],
    overall_health: report.overallHealth,
    checked_health: report.checkedHealth,
    timestamp: report.timestamp,
    triggered_by: report.triggeredBy,
    workflow_id: report.workflowId,
    run_id: report.runId,
    tokens: report.tokens.map((t) => ({
      name: t.name,
      account_id: t.accountId,
      token_type: t.kind,
      token_id: t.tokenId,
      health: t.state,
      is_valid: t.isValid,
      is_active: t.isActive,
      missing_permissions: t.missingPermissions,
      expires_on: t.expiresOn,
      days_until_expiry: t.daysUntilExpiry,
    })),
    heal:
      report.heal?.map((h) => ({
        name: h.name,
        account_id: h.accountId,
        success: h.success,
        dry_run: h.dryRun,
        permissions_added: h.permissionsAdded,
        message: h.message,
      })) ?? null,
    self_audit: report.selfAudit
      ? {
          is_valid: report.selfAudit.isValid,
          is_active: report.selfAudit.isActive,
          days_until_expiry: report.selfAudit.daysUntilExpiry,
          missing_permissions: report.selfAudit.missing,
        }
      : null,
    recommendations: report.recommendations,
  };
}

const ICON: Record<string, string> = { healthy: '✅', degraded: '⚠️', unhealthy: '❌' };

/** Slack's incoming-webhook shape: `{ text }`, mrkdwn. */
export function slackPayload(report: TokenHealthReport, reasons: readonly string[]): { text: string } {
  const lines = [
    `${ICON[report.overallHealth] ?? ''} *token-warden*: Cloudflare API tokens are *${report.overallHealth}* (${reasons.join(', ')})`,
    ...report.tokens.map(
      (t, i) =>
        `• ${tokenLabel(report.tokens, i)} (${t.name}): ${t.state}${t.missingPermissions.length ? `, missing ${t.missingPermissions.join(', ')}` : ''}${t.daysUntilExpiry !== null ? `, expires in ${t.daysUntilExpiry} days` : ''}`,
    ),
    ...report.recommendations.map((r) => `> ${r}`),
    `Run ${report.workflowId} (${report.triggeredBy}, ${report.timestamp})`,
  ];
  return { text: lines.join('\n') };
}
