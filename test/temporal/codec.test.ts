import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';

const keyA = randomBytes(32);
const keyB = randomBytes(32);

describe('AesGcmPayloadCodec', () => {
  it('round-trips a payload and leaves no plaintext in the encoded bytes', async () => {
    const codec = new AesGcmPayloadCodec({ currentKeyId: 'a', keys: new Map([['a', keyA]]) });
    const payload = defaultPayloadConverter.toPayload({ note: 'plain-marker-123' });
    const [encoded] = await codec.encode([payload]);
    expect(Buffer.from(encoded!.data!).toString('latin1')).not.toContain('plain-marker-123');
    expect(Buffer.from(encoded!.metadata!['encryption-key-id']!).toString()).toBe('a');
    const [decoded] = await codec.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toEqual({ note: 'plain-marker-123' });
  });

  it('still reads history written with a previous key after the key rotates', async () => {
    const old = new AesGcmPayloadCodec({ currentKeyId: 'a', keys: new Map([['a', keyA]]) });
    const rotated = new AesGcmPayloadCodec({
      currentKeyId: 'b',
      keys: new Map([
        ['a', keyA],
        ['b', keyB],
      ]),
    });
    const [encoded] = await old.encode([defaultPayloadConverter.toPayload('v1')]);
    const [decoded] = await rotated.decode([encoded!]);
    expect(defaultPayloadConverter.fromPayload(decoded!)).toBe('v1');
  });

  it('refuses a payload from an unknown key and a tampered one', async () => {
    const writer = new AesGcmPayloadCodec({ currentKeyId: 'b', keys: new Map([['b', keyB]]) });
    const reader = new AesGcmPayloadCodec({ currentKeyId: 'a', keys: new Map([['a', keyA]]) });
    const [encoded] = await writer.encode([defaultPayloadConverter.toPayload('x')]);
    await expect(reader.decode([encoded!])).rejects.toThrow('unknown key id "b"');
    const tampered = { ...encoded!, data: Buffer.from(encoded!.data!).fill(7, 20, 21) };
    await expect(writer.decode([tampered])).rejects.toThrow();
  });

  it('passes through payloads it did not encrypt', async () => {
    const codec = new AesGcmPayloadCodec({ currentKeyId: 'a', keys: new Map([['a', keyA]]) });
    const plain = defaultPayloadConverter.toPayload('unencrypted');
    expect(await codec.decode([plain])).toEqual([plain]);
  });
});
