import { mkdirSync } from 'node:fs';
import { POOL_SIZE } from './pool';

export interface EmbeddedPostgres {
  url: string;
  close(): Promise<void>;
}

/**
 * PGlite (Postgres compiled to WASM) under `dataDir`, served on loopback by pglite-socket so
 * the same `pg` pool and migrations run as against a real server.
 */
export async function startEmbeddedPostgres(dataDir: string, port = 0): Promise<EmbeddedPostgres> {
  mkdirSync(dataDir, { recursive: true });
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const db = await PGlite.create(dataDir);
  // The default of one connection drops the pool's others; allow the pool plus migrations.
  const server = new PGLiteSocketServer({ db, host: '127.0.0.1', port, maxConnections: POOL_SIZE * 3 });
  await server.start();
  const address = server.getServerConn();
  return {
    url: `postgres://postgres:postgres@${address}/postgres?sslmode=disable`,
    close: async () => {
      await server.stop();
      await db.close();
    },
  };
}
