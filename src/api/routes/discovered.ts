import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { DiscoveredCredentialsRepository, DiscoveredRow } from '../../db/discovered-credentials';
import { adoptionSnippet } from '../../discovery/adopt-snippet';
import { daysLeft } from '../../discovery/classify';
import { credentialKindSchema } from '../../discovery/credential-schemas';
import { TokenKind, TriggeredBy } from '../../temporal/search-attributes';
import { discoverCredentials } from '../../workflows/discover-credentials';
import { encodeCursor } from '../cursor';
import {
  authErrors,
  backendErrors,
  bodyErrors,
  errorResponseSchema,
  inputErrors,
  notFound,
  paramErrors,
} from '../errors';
import { accountId, before, flag, limit, queryInteger, reason } from '../inputs';
import { workflowRunLink } from './workflows';

export interface DiscoveredRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  discovered: Pick<DiscoveredCredentialsRepository, 'listPage' | 'find' | 'latestRun'>;
}

const DAY_MS = 86_400_000;

const credentialSchema = z.object({
  account_id: z.string(),
  kind: credentialKindSchema,
  id: z.string(),
  zone_id: z.string().nullable(),
  name: z.string(),
  managed: z.boolean(),
  inventory_name: z.string().nullable(),
  status: z.string(),
  expires_at: z.string().nullable(),
  expires_in_days: z.number().nullable().meta({ description: 'Whole days left; null: it never expires.' }),
  last_used_at: z.string().nullable(),
  unused_days: z.number().meta({ description: 'Days since last use (or since it was created, never used).' }),
  created_at: z.string().nullable(),
  over_privileged: z
    .array(z.string())
    .nullable()
    .meta({ description: "Permission groups beyond the inventory's required list; null where not evaluated." }),
  first_discovered_at: z.string(),
  last_discovered_at: z.string(),
  gone_at: z.string().nullable(),
});

const runSchema = z.object({
  run_id: z.string(),
  workflow_id: z.string(),
  triggered_by: z.string(),
  finished_at: z.string(),
  credentials: z.number(),
  unmanaged: z.number(),
  without_expiry: z.number(),
  gone: z.number(),
  cloudflare_calls: z.number(),
  skipped: z
    .array(z.string())
    .meta({ description: "Lists token-warden's token may not read (403); their rows were left as they were." }),
});

const credentialId = z
  .string()
  .min(1)
  .max(100)
  .regex(/^[A-Za-z0-9-]+$/, 'must be a Cloudflare token id');

function toWire(row: DiscoveredRow, now: Date): z.infer<typeof credentialSchema> {
  const lastUse = row.lastUsedAt ?? row.createdAt ?? row.firstDiscoveredAt.toISOString();
  return {
    account_id: row.accountId,
    kind: row.kind,
    id: row.id,
    zone_id: row.zoneId,
    name: row.name,
    managed: row.managed,
    inventory_name: row.inventoryName,
    status: row.status,
    expires_at: row.expiresAt,
    expires_in_days: daysLeft(row.expiresAt, now),
    last_used_at: row.lastUsedAt,
    unused_days: Math.max(0, Math.floor((now.getTime() - Date.parse(lastUse)) / DAY_MS)),
    created_at: row.createdAt,
    over_privileged: row.overPrivileged,
    first_discovered_at: row.firstDiscoveredAt.toISOString(),
    last_discovered_at: row.lastDiscoveredAt.toISOString(),
    gone_at: row.goneAt?.toISOString() ?? null,
  };
}

/** Every credential discovery found in the accounts (managed or not), and a way to adopt one. */
export const discoveredRoutes: FastifyPluginAsyncZod<DiscoveredRouteDeps> = async (app, deps) => {
  app.get(
    '/inventory/discovered',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['inventory'],
        summary: 'Credentials found in the accounts by discovery, newest discovered first',
        description:
          'Every filter narrows the list: `unmanaged=true` (no inventory entry), `no_expiry=true`, `unused_days=N` (not used for N days), `expiring_days=N` (expiring within N days, or expired), `kind=`, `account=`. Rows a later run no longer found are left out unless `include_gone=true`.',
        querystring: z.object({
          unmanaged: flag,
          no_expiry: flag,
          unused_days: queryInteger(0, 36_500).optional(),
          expiring_days: queryInteger(0, 36_500).optional(),
          kind: credentialKindSchema.optional(),
          account: accountId.optional(),
          include_gone: flag,
          limit: limit(200, 50),
          before: before('discovered').optional(),
        }),
        response: {
          200: z.object({
            success: z.literal(true),
            data: z.object({
              credentials: z.array(credentialSchema),
              count: z.number(),
              next_before: z.string().nullable(),
              last_run: runSchema.nullable(),
            }),
          }),
          ...inputErrors,
          ...authErrors,
          ...backendErrors,
        },
      },
    },
    async (request) => {
      const q = request.query;
      const [page, run] = await Promise.all([
        deps.discovered.listPage({
          accountId: q.account,
          kind: q.kind,
          unmanaged: q.unmanaged === 'true',
          noExpiry: q.no_expiry === 'true',
          unusedDays: q.unused_days,
          expiringDays: q.expiring_days,
          includeGone: q.include_gone === 'true',
          limit: q.limit,
          before: q.before,
        }),
        deps.discovered.latestRun(),
      ]);
      const now = new Date();
      const credentials = page.rows.map((row) => toWire(row, now));
      return {
        success: true as const,
        data: {
          credentials,
          count: credentials.length,
          next_before: page.next && encodeCursor('discovered', page.next),
          last_run: run && {
            run_id: run.runId,
            workflow_id: run.workflowId,
            triggered_by: run.triggeredBy,
            finished_at: run.finishedAt.toISOString(),
            credentials: run.credentials,
            unmanaged: run.unmanaged,
            without_expiry: run.withoutExpiry,
            gone: run.gone,
            cloudflare_calls: run.cloudflareCalls,
            skipped: run.skipped,
          },
        },
      };
    },
  );

  app.get(
    '/inventory/discovered/:kind/:id/adopt',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['inventory'],
        summary: 'The inventory entry (YAML) that would adopt a discovered credential; references only, never a secret',
        params: z.object({ kind: credentialKindSchema, id: credentialId }),
        querystring: z.object({ account: accountId.optional() }),
        response: {
          200: z.object({
            success: z.literal(true),
            data: z.object({
              account_id: z.string(),
              kind: credentialKindSchema,
              id: z.string(),
              managed: z.boolean(),
              inventory_name: z.string().nullable(),
              yaml: z.string(),
            }),
          }),
          ...paramErrors,
          ...authErrors,
          404: errorResponseSchema,
          ...backendErrors,
        },
      },
    },
    async (request) => {
      const { kind, id } = request.params;
      const row = await deps.discovered.find(kind, id, request.query.account);
      if (!row) throw notFound(`no discovered ${kind} ${id}`);
      return {
        success: true as const,
        data: {
          account_id: row.accountId,
          kind: row.kind,
          id: row.id,
          managed: row.managed,
          inventory_name: row.inventoryName,
          yaml: adoptionSnippet(row),
        },
      };
    },
  );

  app.post(
    '/inventory/discover',
    {
      config: { scope: 'check' },
      links: { 202: workflowRunLink },
      schema: {
        tags: ['inventory'],
        summary: 'Run credential discovery now (a discoverCredentials run; reads only)',
        body: z.object({ reason: reason.optional() }).nullish(),
        response: {
          202: z.object({
            success: z.literal(true),
            data: z.object({ workflow_id: z.string(), run_id: z.string() }),
          }),
          ...bodyErrors,
          ...authErrors,
          ...backendErrors,
        },
      },
    },
    async (request, reply) => {
      const actor = `api:${request.client?.name ?? 'unknown'}`;
      const handle = await deps.temporal.workflow.start(discoverCredentials, {
        taskQueue: deps.taskQueue,
        workflowId: `discover-credentials/${randomUUID()}`,
        args: [{ trigger: { actor, reason: request.body?.reason } }],
        typedSearchAttributes: [
          { key: TriggeredBy, value: actor },
          { key: TokenKind, value: 'credentials' },
        ],
      });
      return reply.code(202).send({
        success: true as const,
        data: { workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId },
      });
    },
  );
};
