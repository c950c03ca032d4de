import { EXPIRY_WARNING_DAYS, tokenLabel, type HealOutcome, type HealthState, type TokenHealth } from './evaluate';
import type { SelfAudit } from './self-audit';

/** Everything one checkTokenHealth run found and did: its result, its history row, its API answer. */
export interface TokenHealthReport {
  workflowId: string;
  runId: string;
  /** When the check ran (workflow time). */
  timestamp: string;
  triggeredBy: string;
  autoHeal: boolean;
  dryRun: boolean;
  /** Health as checked, before any heal. */
  checkedHealth: HealthState;
  /** Health after heal and its verify (the same as checkedHealth when nothing was healed). */
  overallHealth: HealthState;
  /** Every inventory token, in inventory order, as last seen (after heal when healed). */
  tokens: TokenHealth[];
  /** One entry per token when heal was asked for, in the same order; null otherwise. */
  heal: HealOutcome[] | null;
  selfAudit: SelfAudit | null;
  /** Why the permission-group listing failed, when it did. */
  catalogueProblem: string | null;
  recommendations: string[];
}

export type ReportBody = Omit<TokenHealthReport, 'recommendations'>;

const list = (items: readonly string[], max = 6): string =>
  items.length <= max ? items.join(', ') : `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;
const day = (iso: string): string => iso.slice(0, 10);

/** Predicted expiry: the date, and from when the checks will start warning about it. */
function expiryLine(
  label: string,
  token: Pick<TokenHealth, 'expiresOn' | 'daysUntilExpiry'>,
  whose = label,
): string | null {
  if (!token.expiresOn || token.daysUntilExpiry === null || token.daysUntilExpiry < 0) return null;
  if (token.daysUntilExpiry < EXPIRY_WARNING_DAYS) {
    return `⚠️ ${whose} expires in ${plural(token.daysUntilExpiry, 'day')} (${token.expiresOn}). Roll or replace it before then: auto-heal cannot extend expiry.`;
  }
  const warnFrom = new Date(Date.parse(token.expiresOn) - EXPIRY_WARNING_DAYS * 86_400_000).toISOString();
  return `📅 ${whose} is predicted to expire on ${day(token.expiresOn)} (in ${plural(token.daysUntilExpiry, 'day')}); expiry warnings start ${day(warnFrom)}.`;
}

/**
 * Recommendations in the seed's style: ✅ when nothing needs doing, ⚠️ for what an operator
 * should act on, ❌ for what auto-heal cannot fix. The all-healthy line comes first when it
 * applies, so a healthy run reads exactly like the seed's example.
 */
export function recommendations(report: ReportBody): string[] {
  const lines: string[] = [];
  let actionable = false;
  let healed = false;
  report.tokens.forEach((token, index) => {
    const label = tokenLabel(report.tokens, index);
    const heal = report.heal?.[index] ?? null;
    if (token.state === 'unhealthy') {
      actionable = true;
      lines.push(
        token.isValid || !token.problem?.startsWith('could not be checked')
          ? `❌ ${label} is invalid or inactive (${token.problem ?? 'unknown reason'}). Create a new token in the Cloudflare dashboard and update its secret: auto-heal cannot fix invalid, revoked or expired tokens.`
          : `❌ ${label} ${token.problem}. Check connectivity to Cloudflare and run the check again.`,
      );
    }
    if (
      heal &&
      !heal.dryRun &&
      heal.success &&
      heal.permissionsAdded.length + heal.permissionsAlreadyPresent.length > 0
    ) {
      healed = true;
      lines.push(`✅ ${label} permissions updated successfully`);
    }
    if (heal && heal.dryRun && heal.wouldAdd.length > 0) {
      lines.push(
        `🔍 Dry run: ${label} would gain ${plural(heal.wouldAdd.length, 'permission')}: ${heal.wouldAdd.join(', ')}. Nothing was changed.`,
      );
    }
    if (heal && !heal.success && token.state !== 'unhealthy') {
      actionable = true;
      lines.push(`❌ ${label} heal failed: ${heal.message}`);
    }
    if (token.state === 'degraded') {
      actionable = true;
      const byState = (state: string) => token.requirements.filter((r) => r.state === state).map((r) => r.permission);
      const missing = byState('missing');
      if (!token.permissionsReadable) {
        lines.push(
          `⚠️ ${label}: its permissions could not be read (${token.problem ?? 'unknown reason'}); grant it (or token-warden's own token) ${token.kind === 'user' ? 'API Tokens: Read' : 'Account API Tokens: Read'}.`,
        );
      } else if (missing.length > 0 && !(heal && !heal.success)) {
        lines.push(
          `⚠️ ${label} is missing ${plural(missing.length, 'permission')}: ${list(missing)}. Run POST /tokens/heal (or GET /tokens/health?auto_heal=true) to add them.`,
        );
      }
      const denied = byState('denied');
      if (denied.length)
        lines.push(
          `⚠️ ${label}: ${list(denied)} ${denied.length === 1 ? 'is' : 'are'} blocked by a deny policy; token-warden never edits or removes policies, so change it in the Cloudflare dashboard.`,
        );
      const unknown = byState('unknown');
      if (unknown.length && token.permissionsReadable)
        lines.push(
          `⚠️ ${label}: no Cloudflare permission group is named ${list(unknown.map((p) => `"${p}"`))}; check requiredPermissions in the inventory.`,
        );
      const unavailable = byState('unavailable');
      if (unavailable.length)
        lines.push(
          `⚠️ ${label}: ${list(unavailable)} can only be held by a user token; use a user token for ${unavailable.length === 1 ? 'it' : 'them'}.`,
        );
    }
    if (token.state !== 'unhealthy') {
      const expiry = expiryLine(label, token);
      if (expiry?.startsWith('⚠️')) actionable = true;
      if (expiry) lines.push(expiry);
    }
    if (token.extraPermissions.length > 0) {
      lines.push(
        `ℹ️ ${label} holds ${plural(token.extraPermissions.length, 'permission')} beyond the required list (${list(token.extraPermissions, 4)}): over-privileged. Reported only; token-warden never removes permissions.`,
      );
    }
  });
  const audit = report.selfAudit;
  if (audit) {
    if (!audit.isValid || !audit.isActive) {
      actionable = true;
      lines.push(
        `❌ token-warden's own Cloudflare token is invalid or inactive (${audit.problem ?? 'unknown reason'}): rotation and heal cannot run until it is replaced.`,
      );
    } else {
      if (audit.missing.length) {
        actionable = true;
        lines.push(
          `⚠️ token-warden's own Cloudflare token lacks ${list(audit.missing)}; grant ${audit.missing.length === 1 ? 'it' : 'them'} or those jobs will fail.`,
        );
      }
      const expiry = expiryLine('', audit, "token-warden's own Cloudflare token");
      if (expiry?.startsWith('⚠️')) {
        actionable = true;
        lines.push(expiry);
      }
    }
  }
  if (report.catalogueProblem) {
    actionable = true;
    lines.push(
      `❌ Cloudflare's permission groups could not be listed (${report.catalogueProblem}), so no permission could be checked; token-warden's own token needs API Tokens: Read.`,
    );
  }
  if (!actionable && !healed && report.overallHealth === 'healthy')
    lines.unshift('✅ All tokens are healthy and have required permissions.');
  return lines;
}

/** Why a run deserves a notification; empty when it does not. */
export function notificationReasons(report: TokenHealthReport): string[] {
  const reasons = new Set<string>();
  if (report.overallHealth === 'degraded') reasons.add('degraded');
  if (report.overallHealth === 'unhealthy') reasons.add('unhealthy');
  if (
    report.tokens.some(
      (t) => t.state !== 'unhealthy' && t.daysUntilExpiry !== null && t.daysUntilExpiry < EXPIRY_WARNING_DAYS,
    )
  )
    reasons.add('expiring');
  if (
    report.selfAudit &&
    report.selfAudit.daysUntilExpiry !== null &&
    report.selfAudit.daysUntilExpiry < EXPIRY_WARNING_DAYS
  )
    reasons.add('expiring');
  if (report.heal?.some((h) => !h.success && !h.dryRun)) reasons.add('heal-failed');
  if (
    report.selfAudit &&
    (!report.selfAudit.isValid || !report.selfAudit.isActive || report.selfAudit.missing.length > 0)
  )
    reasons.add('self-audit');
  return [...reasons];
}
