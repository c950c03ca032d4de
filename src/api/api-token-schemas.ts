import { z } from 'zod';
import { accountId } from './inputs';

/** Inputs and answer of `GET /api-tokens`: names, configuration and recorded state, never a value or a fingerprint. */

/** Strict: a misspelt filter is a 400, not a listing of every token. */
export const apiTokenListQuery = z.strictObject({ account_id: accountId.optional() });

export const apiTokenListResponse = z.object({
  success: z.literal(true),
  data: z.object({
    api_tokens: z.array(
      z.object({
        name: z.string(),
        account_id: z.string(),
        kind: z.enum(['account', 'user']),
        /** token-warden's own token (`self: true` in the inventory). */
        self: z.boolean(),
        rotate: z
          .object({
            strategy: z.enum(['successor', 'roll']),
            renew_before: z.string(),
            every: z.string().nullable(),
            propagation_wait: z.string(),
            targets: z.array(z.string()),
          })
          .nullable()
          .meta({ description: "The inventory's `rotate:`; null: token-warden only checks this token." }),
        health: z
          .object({
            checked_at: z.string(),
            run_id: z.string(),
            state: z.enum(['healthy', 'degraded', 'unhealthy']),
            is_valid: z.boolean(),
            expires_on: z.string().nullable(),
            missing_permissions_count: z.number().int(),
          })
          .nullable()
          .meta({
            description:
              'From the newest recorded health check (no check is started); null when none has checked this token. A check older than `last_rotation` describes the token rotated away.',
          }),
        next_rotation_at: z.string().nullable().meta({
          description:
            'When the daily sweep rotates it: `expires_on` less `renew_before`, or `every` after its value was made, whichever comes first; null if not known.',
        }),
        last_rotation: z
          .object({
            run_id: z.string(),
            status: z.string(),
            mode: z.string(),
            started_at: z.string(),
            finished_at: z.string().nullable(),
          })
          .nullable(),
        workflow_id: z.string(),
      }),
    ),
    count: z.number().int(),
  }),
});

export type ListedApiToken = z.infer<typeof apiTokenListResponse>['data']['api_tokens'][number];
