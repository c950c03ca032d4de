import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { buildApp, type AppDeps } from '../../src/api/app';
import { createMetricsQueries } from '../../src/db/metrics-queries';
import { createDiscoveredCredentialsRepository } from '../../src/db/discovered-credentials';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';
import { startStack, TEST_CLIENT, type Stack } from '../support/stack';

export interface ApiStack {
  stack: Stack;
  /** The inventory's account id and its one managed service token. */
  accountId: string;
  tokenName: string;
  /** The API on the stack as `stack.app()` builds it, with any dependency replaced. */
  app(overrides?: Partial<AppDeps>): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** A real stack (simulator, Postgres, Temporal; no workers) with one service token, for API edge tests. */
export async function startApiStack(): Promise<ApiStack> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-api-'));
  const stack = await startStack({
    inventory: (sim) => ({
      accounts: [
        {
          id: sim.state.createAccount({}).id,
          serviceTokens: [{ name: 'svc', targets: [{ kind: 'file', path: path.join(dir, 'svc.env') }] }],
        },
      ],
    }),
  });
  const apps: FastifyInstance[] = [];
  return {
    stack,
    accountId: stack.inventory.accounts[0]!.id,
    tokenName: 'svc',
    async app(overrides = {}) {
      const app = await buildApp({
        clients: [TEST_CLIENT],
        logger: false,
        temporal: stack.client,
        taskQueue: stack.taskQueue,
        history: stack.history,
        inventory: stack.inventory,
        rotations: stack.rotations,
        metrics: createMetricsQueries(stack.db.pool),
        discovered: createDiscoveredCredentialsRepository(stack.db.pool),
        codec: { codec: new AesGcmPayloadCodec(stack.keys), uiOrigins: ['http://127.0.0.1:8233'], public: false },
        readiness: {
          temporal: async () => void (await stack.connection.workflowService.getSystemInfo({})),
          postgres: async () => void (await stack.db.pool.query('SELECT 1')),
        },
        ...overrides,
      });
      apps.push(app);
      return app;
    },
    async close() {
      for (const app of apps) await app.close();
      await stack.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
