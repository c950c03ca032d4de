import Fastify from 'fastify';

/**
 * P5's floor (bench only): a bare Fastify app with one route, in a process of its own as the API
 * is. It prints its port as `listening <port>`.
 */
async function main(): Promise<void> {
  const app = Fastify({ logger: false });
  app.get('/bare', async () => ({ status: 'ok' }));
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  process.stdout.write(`listening ${typeof address === 'object' && address ? address.port : 0}\n`);
  const stop = () => void app.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

void main();
