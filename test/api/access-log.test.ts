import { Writable } from 'node:stream';
import Fastify from 'fastify';
import pino from 'pino';
import { AccessLogController } from '../../src/api/access-log';

describe('access logs stay off the hot path', () => {
  const apps: Array<{ close(): PromiseLike<unknown> }> = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  async function appLoggingAt(level: string) {
    const lines: Array<Record<string, unknown>> = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        lines.push(JSON.parse(chunk.toString()));
        done();
      },
    });
    const app = Fastify({ loggerInstance: pino({ level }, stream), logController: new AccessLogController(50) });
    apps.push(app);
    app.get('/fast', async () => ({ ok: true }));
    app.get('/slow', async () => {
      await new Promise((resolve) => setTimeout(resolve, 80));
      return { ok: true };
    });
    return { app, lines };
  }

  it('writes nothing for a fast request at info, the default level', async () => {
    const { app, lines } = await appLoggingAt('info');
    expect((await app.inject({ url: '/fast' })).statusCode).toBe(200);
    expect(lines).toEqual([]);
  });

  it('writes one line per request at debug, naming the request and its status', async () => {
    const { app, lines } = await appLoggingAt('debug');
    await app.inject({ url: '/fast?limit=5' });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 20,
        msg: 'request completed',
        req: expect.objectContaining({ method: 'GET', url: '/fast?limit=5' }),
        res: { statusCode: 200 },
      }),
    ]);
  });

  it('still writes a slow request at info', async () => {
    const { app, lines } = await appLoggingAt('info');
    await app.inject({ url: '/slow' });
    expect(lines).toEqual([
      expect.objectContaining({
        level: 30,
        msg: 'slow request',
        responseTime: expect.any(Number),
        req: expect.objectContaining({ url: '/slow' }),
      }),
    ]);
  });
});
