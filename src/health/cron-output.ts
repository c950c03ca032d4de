import { tokenLabel, type HealOutcome, type HealthState, type TokenHealth } from './evaluate';

/**
 * The run's log lines, worded like the seed's "Cron Output" so an operator who knows the
 * seed reads the worker log the same way. Token lines describe the check (before heal),
 * heal lines what heal then did, recommendations the end state.
 */
export function runStartLines(input: {
  timestamp: string;
  cron: string | null;
  autoHeal: boolean;
  dryRun: boolean;
  triggeredBy: string;
}): string[] {
  const lines = input.cron
    ? [`Scheduled task started at ${input.timestamp} for cron '${input.cron}'`]
    : [`Token health check requested at ${input.timestamp} by ${input.triggeredBy}`];
  lines.push(
    input.autoHeal
      ? input.dryRun
        ? 'Running token health check and auto-heal (dry run)...'
        : 'Running token health check and auto-heal...'
      : 'Running token health check...',
  );
  return lines;
}

export function checkLines(checked: HealthState, tokens: readonly TokenHealth[]): string[] {
  return [
    `Token health check completed. Overall: ${checked}`,
    ...tokens.map(
      (token, index) =>
        `${tokenLabel(tokens, index)}: ${token.isValid && token.isActive ? '✅ valid' : '❌ invalid'}, ${token.hasAllPermissions ? '✅' : '⚠️'} all permissions`,
    ),
  ];
}

export function healLines(tokens: readonly TokenHealth[], heal: readonly HealOutcome[]): string[] {
  const lines: string[] = [];
  heal.forEach((outcome, index) => {
    const label = tokenLabel(tokens, index);
    if (outcome.dryRun) {
      if (outcome.wouldAdd.length)
        lines.push(`${label} heal (dry run): 🔍 ${outcome.message}`, `  Would add: ${outcome.wouldAdd.join(', ')}`);
      return;
    }
    if (!outcome.success) {
      lines.push(`${label} heal: ❌ ${outcome.message}`);
      return;
    }
    if (outcome.permissionsAdded.length + outcome.permissionsAlreadyPresent.length) {
      lines.push(
        `${label} heal: ✅ ${outcome.message}`,
        `  Added permissions: ${[...outcome.permissionsAdded, ...outcome.permissionsAlreadyPresent].join(', ')}`,
      );
    }
  });
  return lines;
}

export function recommendationLines(recommendations: readonly string[]): string[] {
  return ['Recommendations:', ...recommendations.map((line) => `  ${line}`)];
}
