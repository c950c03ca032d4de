import { z } from 'zod';
import { authErrors, backendErrors, bodyErrors, errorResponseSchema, paramErrors } from './errors';
import { flag, reason } from './inputs';
import { accountQuery, conflictResponse, tokenParams, workflowStarted } from './service-token-schemas';

/** `POST /<collection>/:name/rotate` of any credential kind: 202 with the run, 409 while one runs, or the plan (dry run). */
export function rotateRouteSchema<Plan extends z.ZodType>(tag: string, summary: string, planResponse: Plan) {
  return {
    tags: [tag],
    summary,
    params: tokenParams,
    querystring: accountQuery.extend({ dry_run: flag }),
    body: z.object({ reason: reason.optional() }).nullish(),
    response: {
      200: planResponse,
      202: workflowStarted,
      ...paramErrors,
      ...bodyErrors,
      ...authErrors,
      404: errorResponseSchema,
      409: conflictResponse,
      ...backendErrors,
    },
  };
}

/** `POST /<collection>/:name/revoke`: the reason is required, validated before anything starts (it goes into history and audit). */
export function revokeRouteSchema(tag: string, summary: string) {
  return {
    tags: [tag],
    summary,
    params: tokenParams,
    querystring: accountQuery,
    body: z.object({ reason }),
    response: {
      202: workflowStarted,
      ...paramErrors,
      ...bodyErrors,
      ...authErrors,
      404: errorResponseSchema,
      ...backendErrors,
    },
  };
}
