import { checkLines, healLines, recommendationLines, runStartLines } from '../../src/health/cron-output';
import { evaluateToken, overallHealth, type HealOutcome, type TokenHealth } from '../../src/health/evaluate';
import { apiGroupName, mayManageTokens, PermissionCatalogue, permissionKey } from '../../src/health/permissions';
import { notificationReasons, recommendations, type ReportBody } from '../../src/health/report';
import { slackPayload, webhookPayload } from '../../src/health/notification';
import { historyEntry } from '../../src/health/history-wire';
import { statusData } from '../../src/health/status-wire';
import { healthData, healthDataSchema } from '../../src/health/wire';
import type { InventoryTokenRef, TokenObservation, TokenPolicy } from '../../src/health/types';
import { groupNamed, HOME, TEST_GROUPS, USER_ID } from './catalogue';
import { observation } from './observation';

const catalogue = new PermissionCatalogue(TEST_GROUPS);
const NOW = Date.parse('2025-11-13T19:00:00.000Z');
const BASE = 'https://api.cloudflare.com/client/v4';
const HEALTHY_LINE = '✅ All tokens are healthy and have required permissions.';

const accountRef: InventoryTokenRef = {
  accountId: HOME,
  name: 'account',
  kind: 'account',
  configuredId: null,
  requiredPermissions: ['Workers Scripts: Edit', 'D1: Edit', 'Workers Tail: Read'],
};
const userRef: InventoryTokenRef = {
  accountId: HOME,
  name: 'user',
  kind: 'user',
  configuredId: null,
  requiredPermissions: ['API Tokens: Edit'],
};

const allow = (names: string[], resources: TokenPolicy['resources']): TokenPolicy => ({
  effect: 'allow',
  permission_groups: names.map((n) => ({ id: groupNamed(n).id })),
  resources,
});

const evaluate = (ref: InventoryTokenRef, obs: TokenObservation): TokenHealth =>
  evaluateToken(ref, obs, { catalogue, now: NOW, baseURL: BASE });
const healthyAccount = () =>
  evaluate(
    accountRef,
    observation([
      allow(['Workers Scripts Write', 'D1 Write', 'Workers Tail Read'], {
        [`com.cloudflare.api.account.${HOME}`]: '*',
      }),
    ]),
  );
const healthyUser = () =>
  evaluate(userRef, observation([allow(['API Tokens Write'], { [`com.cloudflare.api.user.${USER_ID}`]: '*' })]));

function body(tokens: TokenHealth[], extra: Partial<ReportBody> = {}): ReportBody {
  return {
    workflowId: 'wf',
    runId: 'run',
    timestamp: '2025-11-13T19:00:00.000Z',
    triggeredBy: 'api:test',
    autoHeal: false,
    dryRun: false,
    checkedHealth: overallHealth(tokens),
    overallHealth: overallHealth(tokens),
    tokens,
    heal: null,
    selfAudit: null,
    catalogueProblem: null,
    ...extra,
  };
}

describe('permission names and keys', () => {
  it('reads the seed dashboard labels as API group names', () => {
    expect(apiGroupName('Workers Scripts: Edit')).toBe('Workers Scripts Write');
    expect(apiGroupName('Cloudflare Pages: Edit')).toBe('Pages Write');
    expect(apiGroupName('Workers Tail: Read')).toBe('Workers Tail Read');
    expect(apiGroupName('Access: Service Tokens Write')).toBe('Access: Service Tokens Write');
    expect(apiGroupName('Access: Service Tokens: Edit')).toBe('Access: Service Tokens Write');
  });

  it('maps groups to the seed permission keys', () => {
    expect(permissionKey(groupNamed('Workers Scripts Write'))).toBe('com.cloudflare.api.account.workers.script:edit');
    expect(permissionKey(groupNamed('D1 Write'))).toBe('com.cloudflare.api.account.d1:edit');
    expect(permissionKey(groupNamed('Workers Tail Read'))).toBe('com.cloudflare.api.account.workers.tail:read');
    expect(permissionKey(groupNamed('API Tokens Write'))).toBe('com.cloudflare.api.user.tokens:edit');
    expect(permissionKey(groupNamed('Access: Service Tokens Write'))).toBe(
      'com.cloudflare.api.account.access.service_tokens:edit',
    );
    expect(permissionKey(groupNamed('DNS Write'))).toBe('com.cloudflare.api.account.zone.dns:edit');
  });

  it('knows when a token may read or edit itself', () => {
    const reader = [allow(['Account API Tokens Read'], { [`com.cloudflare.api.account.${HOME}`]: '*' })];
    expect(mayManageTokens(reader, 'read', { kind: 'account', accountId: HOME }, 'account', catalogue)).toBe(true);
    expect(mayManageTokens(reader, 'write', { kind: 'account', accountId: HOME }, 'account', catalogue)).toBe(false);
    expect(
      mayManageTokens(
        [allow(['API Tokens Write'], { [`com.cloudflare.api.user.${USER_ID}`]: '*' })],
        'write',
        { kind: 'user', accountId: HOME },
        'account',
        catalogue,
      ),
    ).toBe(false);
  });
});

describe('token health', () => {
  it('is healthy with every required permission on its own account', () => {
    const token = healthyAccount();
    expect(token).toMatchObject({
      state: 'healthy',
      isValid: true,
      isActive: true,
      hasAllPermissions: true,
      missingPermissions: [],
    });
    expect(token.verificationUrl).toBe(`${BASE}/accounts/${HOME}/tokens/verify`);
  });

  it('is degraded when a permission is granted only on another account', () => {
    const token = evaluate(
      accountRef,
      observation([
        allow(['Workers Scripts Write', 'D1 Write', 'Workers Tail Read'], {
          [`com.cloudflare.api.account.${'b'.repeat(32)}`]: '*',
        }),
      ]),
    );
    expect(token.state).toBe('degraded');
    expect(token.missingPermissions).toEqual(['Workers Scripts: Edit', 'D1: Edit', 'Workers Tail: Read']);
  });

  it('is unhealthy when expired, refused or without a value', () => {
    const expired = evaluate(
      accountRef,
      observation([], {
        accepted: false,
        snapshot: {
          id: 'x',
          name: 't',
          status: 'expired',
          issuedOn: null,
          modifiedOn: null,
          notBefore: null,
          expiresOn: '2025-01-01T00:00:00Z',
          policies: [],
          condition: null,
        },
      }),
    );
    expect(expired).toMatchObject({
      state: 'unhealthy',
      isValid: false,
      isActive: false,
      expiresOn: '2025-01-01T00:00:00Z',
    });
    expect(evaluate(userRef, observation(null, { secret: 'missing', accepted: null })).state).toBe('unhealthy');
  });

  it('says when a token token-warden rotates is renewed next: its expiry less renewBefore', () => {
    const obs = observation([allow(['Workers Scripts Write'], { [`com.cloudflare.api.account.${HOME}`]: '*' })]);
    const expiring = { ...obs, snapshot: { ...obs.snapshot!, expiresOn: '2026-01-12T00:00:00.000Z' } };
    const rotated = { ...accountRef, renewBeforeMs: 30 * 86_400_000 };
    expect(evaluate(rotated, expiring).nextRotationAt).toBe('2025-12-13T00:00:00.000Z');
    expect(evaluate(rotated, obs).nextRotationAt).toBeNull(); // never expires: never renewed
    expect(evaluate(accountRef, expiring)).not.toHaveProperty('nextRotationAt'); // only checked, not rotated
  });

  it('flags permissions beyond the required list', () => {
    const token = evaluate(
      userRef,
      observation([allow(['API Tokens Write', 'Memberships Write'], { [`com.cloudflare.api.user.${USER_ID}`]: '*' })]),
    );
    expect(token.extraPermissions).toEqual(['Memberships Write']);
  });
});

describe('recommendations, cron output and the REST shapes', () => {
  it('reads exactly like the seed when everything is healthy', () => {
    const report = body([healthyAccount(), healthyUser()]);
    const lines = recommendations(report);
    expect(lines).toEqual(['✅ All tokens are healthy and have required permissions.']);
    expect(
      [
        ...runStartLines({
          timestamp: report.timestamp,
          cron: '0 */6 * * *',
          autoHeal: true,
          dryRun: false,
          triggeredBy: 'schedule:x',
        }),
        ...checkLines('healthy', report.tokens),
        ...recommendationLines(lines),
      ].join('\n'),
    ).toBe(
      [
        "Scheduled task started at 2025-11-13T19:00:00.000Z for cron '0 */6 * * *'",
        'Running token health check and auto-heal...',
        'Token health check completed. Overall: healthy',
        'Account token: ✅ valid, ✅ all permissions',
        'User token: ✅ valid, ✅ all permissions',
        'Recommendations:',
        '  ✅ All tokens are healthy and have required permissions.',
      ].join('\n'),
    );
  });

  it('prints a heal like the seed', () => {
    const degraded = evaluate(
      accountRef,
      observation([allow(['Workers Tail Read'], { [`com.cloudflare.api.account.${HOME}`]: '*' })]),
    );
    const heal: HealOutcome[] = [
      {
        accountId: HOME,
        name: 'account',
        kind: 'account',
        tokenId: 'x',
        success: true,
        dryRun: false,
        updated: true,
        via: 'warden',
        permissionsAdded: ['com.cloudflare.api.account.workers.script:edit', 'com.cloudflare.api.account.d1:edit'],
        permissionsAlreadyPresent: [],
        wouldAdd: [],
        notAdded: [],
        message: 'Successfully added 2 missing permissions',
      },
      {
        accountId: HOME,
        name: 'user',
        kind: 'user',
        tokenId: 'y',
        success: true,
        dryRun: false,
        updated: false,
        via: null,
        permissionsAdded: [],
        permissionsAlreadyPresent: [],
        wouldAdd: [],
        notAdded: [],
        message: 'Successfully added 0 missing permissions',
      },
    ];
    expect(checkLines('degraded', [degraded, healthyUser()])).toEqual([
      'Token health check completed. Overall: degraded',
      'Account token: ✅ valid, ⚠️ all permissions',
      'User token: ✅ valid, ✅ all permissions',
    ]);
    expect(healLines([degraded, healthyUser()], heal)).toEqual([
      'Account token heal: ✅ Successfully added 2 missing permissions',
      '  Added permissions: com.cloudflare.api.account.workers.script:edit, com.cloudflare.api.account.d1:edit',
    ]);
    const after = body([healthyAccount(), healthyUser()], { autoHeal: true, heal, checkedHealth: 'degraded' });
    expect(recommendations(after)).toEqual(['✅ Account token permissions updated successfully']);
  });

  it('builds the seed health, status and history shapes in the seed order', () => {
    const report = {
      ...body([healthyAccount(), healthyUser()]),
      recommendations: ['✅ All tokens are healthy and have required permissions.'],
    };
    const data = healthDataSchema.parse(healthData(report));
    expect(Object.keys(data).slice(0, 6)).toEqual([
      'timestamp',
      'account_token',
      'user_token',
      'overall_health',
      'recommendations',
      'auto_heal_attempted',
    ]);
    expect(Object.keys(data.account_token ?? {})).toEqual([
      'token_type',
      'token_id',
      'is_valid',
      'is_active',
      'expires_on',
      'missing_permissions',
      'has_all_permissions',
      'verification_url',
    ]);
    expect(data).not.toHaveProperty('auto_heal_results');
    expect(statusData(report)).toEqual({
      overall_health: 'healthy',
      account_token: { is_valid: true, is_active: true, has_all_permissions: true, missing_permissions_count: 0 },
      user_token: { is_valid: true, is_active: true, has_all_permissions: true, missing_permissions_count: 0 },
      recommendations: ['✅ All tokens are healthy and have required permissions.'],
    });
    const entry = historyEntry({
      checkedAt: new Date(NOW),
      overallHealth: 'healthy',
      autoHealAttempted: true,
      autoHealSuccess: true,
      triggeredBy: 'schedule:x',
      workflowId: 'wf',
      results: {
        timestamp: '2025-11-13T19:00:00.000Z',
        summary: {
          account_token: { valid: true, has_all_perms: true, missing_perms: 0 },
          user_token: { valid: true, has_all_perms: true, missing_perms: 0 },
        },
      },
    });
    expect(Object.keys(entry).slice(0, 10)).toEqual([
      'timestamp',
      'overall_health',
      'account_token_valid',
      'account_token_has_all_perms',
      'account_token_missing_perms',
      'user_token_valid',
      'user_token_has_all_perms',
      'user_token_missing_perms',
      'auto_heal_attempted',
      'auto_heal_success',
    ]);
  });
});

describe('more tokens than the seed pair', () => {
  it('keeps the seed pair in place and lists the others under additional_tokens', () => {
    const second = evaluate(
      { ...accountRef, name: 'second-account-token' },
      observation([allow(['Workers Tail Read'], { [`com.cloudflare.api.account.${HOME}`]: '*' })]),
    );
    const report = { ...body([healthyAccount(), second, healthyUser()]), recommendations: [] };
    const data = healthData(report);
    expect(data.account_token?.token_type).toBe('account');
    expect(data.user_token?.token_type).toBe('user');
    expect(data.overall_health).toBe('degraded');
    expect(data.additional_tokens).toEqual([
      {
        name: 'second-account-token',
        account_id: HOME,
        token: expect.objectContaining({ missing_permissions: ['Workers Scripts: Edit', 'D1: Edit'] }),
      },
    ]);
    expect(statusData(report).additional_tokens).toEqual([
      {
        is_valid: true,
        is_active: true,
        has_all_permissions: false,
        missing_permissions_count: 2,
        name: 'second-account-token',
        account_id: HOME,
      },
    ]);
    expect(recommendations(report)).toEqual([
      expect.stringMatching(
        /^⚠️ Account token "second-account-token" is missing 2 permissions: Workers Scripts: Edit, D1: Edit\./,
      ),
    ]);
  });
});

describe('expiry and notifications', () => {
  const expiringIn = (days: number) => {
    const expiresOn = new Date(NOW + days * 86_400_000 + 3_600_000).toISOString();
    return evaluate(
      accountRef,
      observation(
        [
          allow(['Workers Scripts Write', 'D1 Write', 'Workers Tail Read'], {
            [`com.cloudflare.api.account.${HOME}`]: '*',
          }),
        ],
        {
          snapshot: {
            id: 'x',
            name: 't',
            status: 'active',
            issuedOn: null,
            modifiedOn: null,
            notBefore: null,
            expiresOn,
            policies: [
              allow(['Workers Scripts Write', 'D1 Write', 'Workers Tail Read'], {
                [`com.cloudflare.api.account.${HOME}`]: '*',
              }),
            ],
            condition: null,
          },
        },
      ),
    );
  };

  it('warns under 30 days and predicts expiry further out, without changing the seed health state', () => {
    const soon = expiringIn(12);
    expect(soon).toMatchObject({ state: 'healthy', daysUntilExpiry: 12 });
    const report = body([soon, healthyUser()]);
    expect(recommendations(report)).toEqual([
      expect.stringMatching(
        /^⚠️ Account token expires in 12 days \(.+\)\. Roll or replace it before then: auto-heal cannot extend expiry\.$/,
      ),
    ]);
    expect(notificationReasons({ ...report, recommendations: [] })).toEqual(['expiring']);
    const later = body([expiringIn(45), healthyUser()]);
    expect(recommendations(later)).toEqual([
      HEALTHY_LINE,
      expect.stringMatching(
        /^📅 Account token is predicted to expire on \d{4}-\d{2}-\d{2} \(in 45 days\); expiry warnings start \d{4}-\d{2}-\d{2}\.$/,
      ),
    ]);
    expect(notificationReasons({ ...later, recommendations: [] })).toEqual([]);
  });

  it('builds a generic webhook body and a Slack {text} body', () => {
    const degraded = evaluate(
      accountRef,
      observation([allow(['Workers Tail Read'], { [`com.cloudflare.api.account.${HOME}`]: '*' })]),
    );
    const report = { ...body([degraded, healthyUser()]), recommendations: ['⚠️ something'] };
    expect(webhookPayload(report, ['degraded'])).toMatchObject({
      event: 'token_health',
      reasons: ['degraded'],
      overall_health: 'degraded',
      tokens: [
        { name: 'account', health: 'degraded', missing_permissions: ['Workers Scripts: Edit', 'D1: Edit'] },
        { name: 'user', health: 'healthy' },
      ],
    });
    const slack = slackPayload(report, ['degraded']);
    expect(Object.keys(slack)).toEqual(['text']);
    expect(slack.text).toContain('⚠️ *token-warden*: Cloudflare API tokens are *degraded* (degraded)');
    expect(slack.text).toContain('• Account token (account): degraded, missing Workers Scripts: Edit, D1: Edit');
  });
});
