import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import type { CallCounter } from './calls';
import type { SimClock } from './clock';
import { CloudflareApiError, CODE } from './errors';
import type { FaultController } from './faults';
import { FaultRuleSchema, RateLimitPatchSchema, RateLimitSpendSchema } from './faults-schema';
import type { RateLimiter } from './rate-limit';
import type { RateLimitControl } from './rate-limit-control';

export const ADMIN_PREFIX = '/__sim';

export interface AdminDeps {
  adminKey: string;
  faults: FaultController;
  rateLimiter: RateLimiter;
  rateLimit: RateLimitControl;
  calls: CallCounter;
  clock: SimClock;
}

function keyMatches(presented: string | undefined, adminKey: string): boolean {
  if (presented === undefined) return false;
  const a = Buffer.from(presented);
  const b = Buffer.from(adminKey);
  return a.length === b.length && timingSafeEqual(a, b);
}

const ok = <T>(result: T): { success: true; result: T } => ({ success: true, result });

/**
 * Run-time control of the simulator over HTTP: faults, rate limit, call counts and the
 * clock. Every route but /health needs the admin key, as `X-Sim-Admin-Key: <key>` or
 * `Authorization: Bearer <key>`.
 */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.url === `${ADMIN_PREFIX}/health`) return;
    const header = request.headers['x-sim-admin-key'];
    const fromHeader = Array.isArray(header) ? header[0] : header;
    const bearer = /^Bearer\s+(\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
    if (!keyMatches(fromHeader ?? bearer, deps.adminKey)) {
      throw CloudflareApiError.of(401, CODE.authenticationError, 'Simulator admin key missing or wrong');
    }
  });

  const api = app.withTypeProvider<ZodTypeProvider>();

  api.get('/health', async () => ok({ status: 'ok' }));

  api.get('/faults', async () => ok(deps.faults.list()));
  api.post('/faults', { schema: { body: FaultRuleSchema } }, async (request) =>
    ok({ id: deps.faults.add(request.body) }),
  );
  api.put('/faults', { schema: { body: z.union([FaultRuleSchema, z.array(FaultRuleSchema)]) } }, async (request) =>
    ok({ ids: deps.faults.set(request.body) }),
  );
  api.delete('/faults', async () => {
    deps.faults.clear();
    return ok({ cleared: true });
  });
  api.delete('/faults/:id', { schema: { params: z.object({ id: z.string() }) } }, async (request) => {
    if (!deps.faults.remove(request.params.id))
      throw CloudflareApiError.of(404, CODE.notFound, 'no fault rule with that id');
    return ok({ removed: request.params.id });
  });
  api.put('/faults/seed', { schema: { body: z.object({ seed: z.number().int() }) } }, async (request) => {
    deps.faults.reseed(request.body.seed);
    return ok({ seed: request.body.seed });
  });

  api.get('/rate-limit', async () => ok(deps.rateLimiter.config));
  api.put('/rate-limit', { schema: { body: RateLimitPatchSchema } }, async (request) =>
    ok(deps.rateLimiter.configure(request.body)),
  );
  api.delete('/rate-limit', async () => {
    deps.rateLimiter.reset();
    return ok({ reset: true });
  });
  api.get('/rate-limit/keys', async () => ok(deps.rateLimit.snapshots()));
  // The token value travels in a body, never in a URL.
  api.post('/rate-limit/key', { schema: { body: z.object({ tokenValue: z.string().min(1) }) } }, async (request) => {
    const key = deps.rateLimit.keyOf(request.body.tokenValue);
    if (key === undefined) throw CloudflareApiError.of(404, CODE.notFound, 'no API token has that value');
    return ok({ key, snapshot: deps.rateLimit.snapshot({ key }) });
  });
  api.post('/rate-limit/spend', { schema: { body: RateLimitSpendSchema } }, async (request) => {
    const { n, ...target } = request.body;
    return ok(deps.rateLimit.spend(target, n));
  });

  api.get('/calls', async () => ok(deps.calls.counts()));
  api.delete('/calls', async () => {
    deps.calls.reset();
    return ok({ reset: true });
  });

  const clockView = (): { now: string; offsetMs: number } => ({
    now: deps.clock.nowIso(),
    offsetMs: deps.clock.offset,
  });
  api.get('/clock', async () => ok(clockView()));
  api.post(
    '/clock',
    {
      schema: {
        body: z.object({ advanceMs: z.number().optional(), now: z.string().optional(), reset: z.boolean().optional() }),
      },
    },
    async (request) => {
      const { advanceMs, now, reset } = request.body;
      if (reset) deps.clock.reset();
      if (now !== undefined) deps.clock.set(Date.parse(now));
      if (advanceMs !== undefined) deps.clock.advance(advanceMs);
      return ok(clockView());
    },
  );
}
