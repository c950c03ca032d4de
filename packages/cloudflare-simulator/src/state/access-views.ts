import type { AppPolicyEntry } from './access';
import type { AccessAppRecord, AccessPolicyRecord } from './types';

/** Access applications and policies as the API answers them. */

export function accessPolicyView(
  policy: AccessPolicyRecord,
  context: { appCount?: number; precedence?: number },
): Record<string, unknown> {
  return {
    ...policy.extra,
    id: policy.id,
    name: policy.name,
    decision: policy.decision,
    include: policy.include,
    exclude: policy.exclude,
    require: policy.require,
    session_duration: policy.session_duration,
    created_at: policy.created_at,
    updated_at: policy.updated_at,
    ...(policy.appId === null ? { reusable: true } : {}),
    ...(context.appCount !== undefined ? { app_count: context.appCount } : {}),
    ...(context.precedence !== undefined ? { precedence: context.precedence } : {}),
  };
}

export function accessAppView(app: AccessAppRecord, policies: AppPolicyEntry[]): Record<string, unknown> {
  return {
    id: app.id,
    aud: app.aud,
    name: app.name,
    domain: app.domain,
    type: app.type,
    session_duration: app.session_duration,
    app_launcher_visible: true,
    created_at: app.created_at,
    updated_at: app.updated_at,
    policies: policies.map((e) => accessPolicyView(e.policy, { precedence: e.precedence })),
  };
}
