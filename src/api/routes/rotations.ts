import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RotationRepository, RotationRow } from '../../db/rotation-repository';
import { encodeCursor } from '../cursor';
import { authErrors, backendErrors, inputErrors } from '../errors';
import { accountId, before, limit, tokenName } from '../inputs';

export interface RotationRouteDeps {
  rotations: Pick<RotationRepository, 'listRotationPage'>;
}

const stepSchema = z.object({
  seq: z.number(),
  step: z.string(),
  outcome: z.string(),
  started_at: z.string(),
  finished_at: z.string(),
  details: z.record(z.string(), z.unknown()),
});

const rotationSchema = z.object({
  run_id: z.string(),
  workflow_id: z.string(),
  account_id: z.string(),
  token: z.string(),
  kind: z.enum(['service-token', 'api-token']),
  strategy: z.string(),
  mode: z.string(),
  triggered_by: z.string(),
  status: z.string(),
  started_at: z.string(),
  finished_at: z.string().nullable(),
  outcome: z.record(z.string(), z.unknown()),
  steps: z.array(stepSchema),
});

const rotationsResponse = z.object({
  success: z.literal(true),
  data: z.object({
    rotations: z.array(rotationSchema),
    count: z.number(),
    next_before: z
      .string()
      .nullable()
      .meta({ description: 'Pass as `before=` for the next (older) page; null on the last page.' }),
  }),
});

const toWire = (row: RotationRow): z.infer<typeof rotationSchema> => ({
  run_id: row.runId,
  workflow_id: row.workflowId,
  account_id: row.accountId,
  token: row.tokenName,
  kind: row.kind,
  strategy: row.strategy,
  mode: row.mode,
  triggered_by: row.triggeredBy,
  status: row.status,
  started_at: row.startedAt.toISOString(),
  finished_at: row.finishedAt?.toISOString() ?? null,
  outcome: row.outcome,
  steps: row.steps.map((s) => ({
    seq: s.seq,
    step: s.step,
    outcome: s.outcome,
    started_at: s.startedAt,
    finished_at: s.finishedAt,
    details: s.details ?? {},
  })),
});

/** Rotation history from Postgres, a page at a time. */
export const rotationRoutes: FastifyPluginAsyncZod<RotationRouteDeps> = async (app, deps) => {
  app.get(
    '/rotations',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['service-tokens'],
        summary: 'Rotation history from Postgres, newest first, with every recorded step',
        description:
          "Filters by account, token name and kind (`service-token`, `api-token`); `before=` (the previous page's `next_before`) pages back through long histories.",
        querystring: z.object({
          account_id: accountId.optional(),
          token: tokenName.optional(),
          kind: z.enum(['service-token', 'api-token']).optional(),
          limit: limit(100, 20),
          before: before('rotations').optional(),
        }),
        response: { 200: rotationsResponse, ...inputErrors, ...authErrors, ...backendErrors },
      },
    },
    async (request) => {
      const { account_id: accountIdFilter, token, kind, limit: pageSize, before: position } = request.query;
      const page = await deps.rotations.listRotationPage({
        accountId: accountIdFilter,
        tokenName: token,
        kind,
        limit: pageSize,
        before: position,
      });
      const rotations = page.rows.map(toWire);
      return {
        success: true as const,
        data: { rotations, count: rotations.length, next_before: page.next && encodeCursor('rotations', page.next) },
      };
    },
  );
};
