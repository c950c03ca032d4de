import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HistoryRepository } from '../../db/history-repository';
import { TokenKind, TriggeredBy } from '../../temporal/search-attributes';
import { verifyApiTokens } from '../../workflows/verify-api-tokens';
import { apiActor } from '../actor';
import { authErrors, backendErrors, bodyErrors, inputErrors } from '../errors';
import { limit, reason } from '../inputs';

export interface ApiTokenRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  history: Pick<HistoryRepository, 'listApiTokenChecks'>;
}

const tokenResultSchema = z.object({
  account_id: z.string(),
  name: z.string(),
  kind: z.enum(['account', 'user']),
  token_id: z.string().nullable(),
  outcome: z.enum(['valid', 'invalid', 'missing-secret']),
  status: z.string().nullable(),
  expires_on: z.string().nullable(),
  problem: z.string().nullable(),
});

const verifyResponseSchema = z.object({
  success: z.literal(true),
  data: z.object({
    workflow_id: z.string(),
    run_id: z.string(),
    overall_health: z.enum(['healthy', 'unhealthy']),
    tokens: z.array(tokenResultSchema),
  }),
});

const checksResponseSchema = z.object({
  success: z.literal(true),
  data: z.object({
    checks: z.array(
      z.object({
        timestamp: z.string(),
        workflow_id: z.string(),
        run_id: z.string(),
        triggered_by: z.string(),
        overall_health: z.string(),
        tokens: z.array(tokenResultSchema),
      }),
    ),
    count: z.number().int(),
  }),
});

type Verification = Awaited<ReturnType<typeof verifyApiTokens>>['tokens'][number];

const toWire = (token: Verification): z.infer<typeof tokenResultSchema> => ({
  account_id: token.accountId,
  name: token.name,
  kind: token.kind,
  token_id: token.tokenId,
  outcome: token.outcome,
  status: token.status,
  expires_on: token.expiresOn,
  problem: token.problem,
});

/** Verification of the configured API tokens: each request is a Temporal run, visible in the UI. */
export const apiTokenRoutes: FastifyPluginAsyncZod<ApiTokenRouteDeps> = async (app, deps) => {
  app.post(
    '/api-tokens/verify',
    {
      config: { scope: 'check' },
      schema: {
        tags: ['api-tokens'],
        summary: 'Verify every configured API token now (a verifyApiTokens run)',
        body: z.object({ reason: reason.optional() }).nullish(),
        response: { 200: verifyResponseSchema, ...bodyErrors, ...authErrors, ...backendErrors },
      },
    },
    async (request) => {
      const actor = apiActor(request);
      const handle = await deps.temporal.workflow.start(verifyApiTokens, {
        taskQueue: deps.taskQueue,
        workflowId: `verify-api-tokens/${randomUUID()}`,
        args: [{ trigger: { actor, reason: request.body?.reason } }],
        typedSearchAttributes: [
          { key: TriggeredBy, value: actor },
          { key: TokenKind, value: 'api-token' },
        ],
      });
      const result = await handle.result();
      return {
        success: true as const,
        data: {
          workflow_id: handle.workflowId,
          run_id: handle.firstExecutionRunId,
          overall_health: result.overallHealth,
          tokens: result.tokens.map(toWire),
        },
      };
    },
  );

  app.get(
    '/api-tokens/checks',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['api-tokens'],
        summary: 'Recorded API-token verification runs, newest first',
        querystring: z.object({ limit: limit(100, 10) }),
        response: { 200: checksResponseSchema, ...inputErrors, ...authErrors, ...backendErrors },
      },
    },
    async (request) => {
      const rows = await deps.history.listApiTokenChecks(request.query.limit, 'verify');
      const checks = rows.map((row) => ({
        timestamp: row.checkedAt.toISOString(),
        workflow_id: row.workflowId,
        run_id: row.runId,
        triggered_by: row.triggeredBy,
        overall_health: row.overallHealth,
        tokens: (row.results as Verification[]).map(toWire),
      }));
      return { success: true as const, data: { checks, count: checks.length } };
    },
  );
};
