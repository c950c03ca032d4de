import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { promtool } from './promtool';

const MONITORING = path.resolve(__dirname, '../../monitoring');
const RULES = path.join(MONITORING, 'token-warden-alerts.yaml');
const RULE_TESTS = path.join(MONITORING, 'token-warden-alerts.test.yaml');

interface RuleFile {
  groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
}
interface RuleTestFile {
  tests: Array<{ alert_rule_test: Array<{ alertname: string; exp_alerts: unknown[] }> }>;
}

describe('monitoring/token-warden-alerts.yaml', () => {
  const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
  const alerts = rules.groups.flatMap((group) => group.rules.map((rule) => rule.alert));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-rules-'));

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('passes promtool check rules', () => {
    const result = promtool(['check', 'rules', RULES]);
    expect(result.output).toContain(`SUCCESS: ${alerts.length} rules found`);
    expect(result.status).toBe(0);
  });

  it('passes its promtool unit tests', () => {
    const result = promtool(['test', 'rules', path.basename(RULE_TESTS)], { cwd: MONITORING });
    expect(result.output).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('has a unit test for every rule, seeing it fire and seeing it stay silent', () => {
    const evaluations = (parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTestFile).tests.flatMap(
      (test) => test.alert_rule_test,
    );
    const uncovered = alerts.filter((alert) => {
      const ofAlert = evaluations.filter((evaluation) => evaluation.alertname === alert);
      return !ofAlert.some((e) => e.exp_alerts.length > 0) || !ofAlert.some((e) => e.exp_alerts.length === 0);
    });
    expect(alerts.length).toBeGreaterThanOrEqual(13);
    expect(uncovered).toEqual([]);
  });

  it('fails promtool check rules when an expression is broken', () => {
    const broken = readFileSync(RULES, 'utf8').replace(
      '(token_warden_service_token_expiration_timestamp_seconds) - time() < 7',
      '(token_warden_service_token_expiration_timestamp_seconds - time() < 7',
    );
    expect(broken).not.toBe(readFileSync(RULES, 'utf8'));
    const file = path.join(dir, 'broken-alerts.yaml');
    writeFileSync(file, broken);
    const result = promtool(['check', 'rules', file]);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(/TokenWardenServiceTokenExpiresWithin7Days[\s\S]*parse error/);
  });
});
