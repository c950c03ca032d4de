import cors from '@fastify/cors';
import fp from 'fastify-plugin';
import { ValueError, type PayloadCodec } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authErrors, backendErrors, badRequest, bodyErrors, publicErrors } from '../errors';
import { base64 } from '../inputs';
import type { VerifyUiIdentity } from '../ui-identity';

export interface CodecRouteOptions {
  codec: PayloadCodec;
  /** Web UI origins allowed to call from the browser (the Temporal UI). */
  uiOrigins: string[];
  /** Local simulation only: the dev UI on loopback sends no credentials. */
  public: boolean;
  /** The UI user's Access or OIDC login, accepted instead of a client token; null: tokens only. */
  uiIdentity?: VerifyUiIdentity | null;
}

// Metadata keys are the payload writer's (`encoding`, `encryption-key-id`, …): they only travel inside the payload.
const wirePayload = z.object({ metadata: z.record(z.string(), base64).default({}), data: base64.optional() });
const wireBody = z.object({ payloads: z.array(wirePayload).max(1000) });
/** What comes back is the codec's: keys as the payload's writer chose them. */
const wireAnswer = z.object({
  payloads: z.array(z.object({ metadata: z.record(z.string(), z.string()), data: z.string().optional() })),
});

type WirePayload = z.infer<typeof wirePayload>;

const fromWire = (p: WirePayload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: p.data === undefined ? undefined : Buffer.from(p.data, 'base64'),
});

const toWire = (p: {
  metadata?: Record<string, Uint8Array> | null;
  data?: Uint8Array | null;
}): z.infer<typeof wireAnswer>['payloads'][number] => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  ),
  ...(p.data ? { data: Buffer.from(p.data).toString('base64') } : {}),
});

/**
 * Why a payload could not be decoded, in words safe to show: the codec's own errors name the
 * key id; a failed decryption (tampered data, truncated data, wrong key) is one reason for all,
 * since which check failed tells a forger nothing it should learn.
 */
function refusal(direction: 'encode' | 'decode', error: unknown) {
  const known =
    error instanceof ValueError
      ? error.message
      : `the payload could not be ${direction === 'decode' ? 'decrypted (tampered, truncated or not ours)' : 'encoded'}`;
  return badRequest('undecodable_payload', `${direction}: ${known}`);
}

/**
 * CORS for the Temporal UI's origins on the codec paths only. Registered on the root before
 * authentication, so a refusal (401, 429) carries the headers too and the UI can read it
 * instead of reporting a CORS failure.
 */
export const codecCors = fp<{ uiOrigins: string[] }>(async (app, { uiOrigins }) => {
  const allowed = {
    origin: uiOrigins,
    credentials: true,
    allowedHeaders: ['content-type', 'x-namespace', 'authorization', 'cf-access-jwt-assertion'],
    methods: ['POST', 'OPTIONS'],
  };
  await app.register(cors, {
    delegator: (request, callback) => callback(null, request.url.startsWith('/codec/') ? allowed : { origin: false }),
  });
});

/** Temporal's codec-server protocol, so the Temporal UI can show decrypted payloads. */
export const codecRoutes: FastifyPluginAsyncZod<CodecRouteOptions> = async (app, options) => {
  for (const direction of ['encode', 'decode'] as const) {
    app.post(
      `/codec/${direction}`,
      {
        config: options.public ? { public: true } : { scope: 'codec', uiIdentity: true },
        schema: {
          tags: ['codec'],
          summary: `Temporal UI codec server: ${direction} payloads`,
          body: wireBody,
          response: {
            200: wireAnswer,
            ...bodyErrors,
            ...(options.public ? publicErrors : { ...authErrors, ...backendErrors }),
          },
        },
      },
      async (request) => {
        const payloads = request.body.payloads.map(fromWire);
        try {
          const result =
            direction === 'encode' ? await options.codec.encode(payloads) : await options.codec.decode(payloads);
          return { payloads: result.map(toWire) };
        } catch (error) {
          request.log.info({ err: error }, `codec: a payload could not be ${direction}d`);
          throw refusal(direction, error);
        }
      },
    );
  }
};
