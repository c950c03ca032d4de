import cors from '@fastify/cors';
import type { PayloadCodec } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { errorResponseSchema } from '../errors';

export interface CodecRouteOptions {
  codec: PayloadCodec;
  /** Web UI origins allowed to call from the browser (the Temporal UI). */
  uiOrigins: string[];
  /** Local simulation only: the dev UI on loopback sends no credentials. */
  public: boolean;
}

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64');
const wirePayload = z.object({ metadata: z.record(z.string(), base64).default({}), data: base64.optional() });
const wireBody = z.object({ payloads: z.array(wirePayload).max(1000) });

type WirePayload = z.infer<typeof wirePayload>;

const fromWire = (p: WirePayload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
});

const toWire = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }): WirePayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
  ...(p.data ? { data: Buffer.from(p.data).toString('base64') } : {}),
});

/** Temporal's codec-server protocol, so the Temporal UI can show decrypted payloads. */
export const codecRoutes: FastifyPluginAsyncZod<CodecRouteOptions> = async (app, options) => {
  await app.register(cors, { origin: options.uiOrigins, credentials: true, allowedHeaders: ['content-type', 'x-namespace', 'authorization'], methods: ['POST', 'OPTIONS'] });
  for (const direction of ['encode', 'decode'] as const) {
    app.post(
      `/codec/${direction}`,
      {
        config: options.public ? { public: true } : { scope: 'codec' },
        schema: { tags: ['codec'], summary: `Temporal UI codec server: ${direction} payloads`, body: wireBody, response: { 200: wireBody, 400: errorResponseSchema, 401: errorResponseSchema } },
      },
      async (request) => {
        const payloads = request.body.payloads.map(fromWire);
        const result = direction === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
        return { payloads: result.map(toWire) };
      },
    );
  }
};
