import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';
import { startApiStack, type ApiStack } from './support';

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');
const wire = (p: { metadata?: Record<string, Uint8Array> | null; data?: Uint8Array | null }) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])),
  data: b64(p.data ?? new Uint8Array()),
});

describe('codec endpoints: the Temporal UI decodes through them; a payload they cannot decode is a 400', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let headers: { authorization: string };

  beforeAll(async () => {
    api = await startApiStack();
    app = await api.app();
    headers = api.stack.auth;
  });
  afterAll(async () => {
    await api?.close();
  });

  const decode = (payloads: unknown[]) =>
    app.inject({ method: 'POST', url: '/codec/decode', headers, payload: { payloads } });

  it('round-trips a payload through encode and decode', async () => {
    const plain = wire(defaultPayloadConverter.toPayload({ note: 'hello' }));
    const encoded = await app.inject({ method: 'POST', url: '/codec/encode', headers, payload: { payloads: [plain] } });
    expect(encoded.statusCode).toBe(200);
    expect(Buffer.from(encoded.json().payloads[0].metadata.encoding, 'base64').toString()).toBe('binary/encrypted');
    const decoded = await decode(encoded.json().payloads);
    expect(decoded.statusCode).toBe(200);
    expect(decoded.json().payloads[0]).toEqual(plain);
    expect(decoded.headers['cache-control']).toBe('no-store');
  });

  it('answers 400 for a payload encrypted with a key it does not hold, naming the key id', async () => {
    const stranger = new AesGcmPayloadCodec({
      currentKeyId: 'elsewhere',
      keys: new Map([['elsewhere', randomBytes(32)]]),
    });
    const [foreign] = await stranger.encode([defaultPayloadConverter.toPayload('x')]);
    const response = await decode([wire(foreign!)]);
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toEqual({
      code: 'undecodable_payload',
      message: 'decode: payload encrypted with unknown key id "elsewhere"',
    });
  });

  it('answers 400 for tampered or truncated ciphertext, one reason for both', async () => {
    const [encoded] = await new AesGcmPayloadCodec(api.stack.keys).encode([
      defaultPayloadConverter.toPayload('secret'),
    ]);
    const tampered = Buffer.from(encoded!.data!);
    tampered[20] = tampered[20]! ^ 0xff;
    for (const data of [tampered, Buffer.from('AAAA', 'base64'), Buffer.alloc(0)]) {
      const response = await decode([wire({ metadata: encoded!.metadata, data })]);
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toEqual({ code: expect.any(String), message: expect.stringMatching(/^decode: /) });
      expect(response.body).not.toMatch(/unable to authenticate|Invalid initialization|auth tag/i);
    }
  });

  it('answers 400 for data or metadata that is not base64, and passes through what it did not encrypt', async () => {
    for (const payload of [{ data: 'not base64!' }, { data: 'QUJD' + '=' }, { metadata: { encoding: '%%%' } }]) {
      const response = await decode([payload]);
      expect({ payload, status: response.statusCode, code: response.json().error?.code }).toEqual({
        payload,
        status: 400,
        code: 'validation_error',
      });
    }
    const plain = wire(defaultPayloadConverter.toPayload('not ours'));
    expect((await decode([plain])).json()).toEqual({ payloads: [plain] });
  });
});
