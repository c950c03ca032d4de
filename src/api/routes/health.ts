import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { publicErrors } from '../errors';

export interface ReadinessChecks {
  temporal(): Promise<void>;
  postgres(): Promise<void>;
}

const readySchema = z.object({
  ready: z.boolean(),
  checks: z.object({ temporal: z.enum(['ok', 'failing']), postgres: z.enum(['ok', 'failing']) }),
});

async function outcome(check: () => Promise<void>): Promise<'ok' | 'failing'> {
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => setTimeout(() => reject(new Error('timeout')), 3_000).unref()),
    ]);
    return 'ok';
  } catch {
    return 'failing';
  }
}

/** `/health` is liveness (the process answers); `/ready` checks Temporal and Postgres. */
export const healthRoutes: FastifyPluginAsyncZod<{ readiness: ReadinessChecks }> = async (app, { readiness }) => {
  app.get(
    '/health',
    {
      config: { public: true },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process answers',
        response: { 200: z.object({ status: z.literal('ok') }), ...publicErrors },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/ready',
    {
      config: { public: true },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: Temporal and Postgres answer (503 when either does not)',
        response: { 200: readySchema, 503: readySchema, ...publicErrors },
      },
    },
    async (_request, reply) => {
      const [temporal, postgres] = await Promise.all([outcome(readiness.temporal), outcome(readiness.postgres)]);
      const ready = temporal === 'ok' && postgres === 'ok';
      return reply.code(ready ? 200 : 503).send({ ready, checks: { temporal, postgres } });
    },
  );
};
