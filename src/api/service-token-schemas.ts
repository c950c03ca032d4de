import { z } from 'zod';
import { accountId, tokenName } from './inputs';

/** Inputs and answers of the service-token routes. */

export const tokenParams = z.object({ name: tokenName });
export const accountQuery = z.object({ account_id: accountId.optional() });
export const workflowStarted = z.object({
  success: z.literal(true),
  data: z.object({ workflow_id: z.string(), run_id: z.string() }),
});
export const conflictResponse = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.literal('conflict'),
    message: z.string(),
    workflow_id: z.string(),
    run_id: z.string().nullable(),
  }),
});

export const planResponse = z.object({
  success: z.literal(true),
  data: z.object({
    dry_run: z.literal(true),
    workflow_id: z.string(),
    account_id: z.string(),
    token: z.string(),
    strategy: z.enum(['rotate-secret', 'replace']),
    steps: z.array(z.string()),
    overlap: z.string(),
    propagation_wait: z.string(),
    probe_url: z.string().nullable(),
    targets: z.array(z.string()),
  }),
});

export const inventoryResponse = z.object({
  success: z.literal(true),
  data: z.object({
    service_tokens: z.array(
      z.object({
        account_id: z.string(),
        name: z.string(),
        scope: z.enum(['account', 'zone']),
        strategy: z.enum(['rotate-secret', 'replace']),
        token_id: z.string().nullable(),
        expires_at: z.string().nullable(),
        days_to_expiry: z.number().nullable(),
        renew_before: z.string(),
        targets: z.array(z.string()),
        last_rotation: z
          .object({
            run_id: z.string(),
            status: z.string(),
            started_at: z.string(),
            finished_at: z.string().nullable(),
          })
          .nullable(),
        workflow_id: z.string(),
      }),
    ),
    count: z.number(),
  }),
});
