import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createPropagationActivities } from '../../src/activities/propagation';
import { inventorySchema } from '../../src/config';
import { r2S3Credential } from '../../src/stores/r2-credentials';

// SHA-256 of "abc" (FIPS 180-2, appendix B.1): the published test vector.
const ABC_SHA256 = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

describe('R2 S3 credentials of an API token', () => {
  it('are the token id and the SHA-256 (hex) of the token value', () => {
    expect(r2S3Credential({ clientId: '4a1b2c3d', clientSecret: 'abc' })).toEqual({
      clientId: '4a1b2c3d',
      clientSecret: ABC_SHA256,
    });
  });

  it('are what an `as: r2-s3` target of an API token receives, under the AWS names by default', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-r2-'));
    try {
      const r2File = path.join(dir, 'r2.env');
      const tokenFile = path.join(dir, 'token.env');
      const inventory = inventorySchema.parse({
        accounts: [
          {
            id: 'acc',
            apiTokens: [
              {
                name: 'backups',
                kind: 'account',
                secretFrom: { file: tokenFile },
                rotate: {
                  targets: [
                    { kind: 'file', path: r2File, as: 'r2-s3' },
                    { kind: 'file', path: tokenFile },
                  ],
                },
              },
            ],
          },
        ],
      });
      const credential = { clientId: '4a1b2c3d', clientSecret: 'abc' };
      const activities = createPropagationActivities({
        inventory,
        pending: { open: async () => credential, current: async () => undefined },
        stores: {
          env: {},
          cloudflare: () => {
            throw new Error('file targets need no Cloudflare client');
          },
        },
      });
      const key = { accountId: 'acc', tokenName: 'backups', credential: 'api-token' as const, ref: 'r' };
      await activities.propagateToStore({ ...key, targetIndex: 0 });
      await activities.propagateToStore({ ...key, targetIndex: 1 });
      expect(readFileSync(r2File, 'utf8')).toBe(`AWS_ACCESS_KEY_ID=4a1b2c3d\nAWS_SECRET_ACCESS_KEY=${ABC_SHA256}\n`);
      expect(readFileSync(tokenFile, 'utf8')).toBe('CLOUDFLARE_API_TOKEN_ID=4a1b2c3d\nCLOUDFLARE_API_TOKEN=abc\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a format it does not know', () => {
    const parse = () =>
      inventorySchema.parse({
        accounts: [
          {
            id: 'acc',
            apiTokens: [
              {
                name: 'x',
                kind: 'user',
                secretFrom: { env: 'X' },
                rotate: { targets: [{ kind: 'file', path: '/tmp/x', as: 's3' }] },
              },
            ],
          },
        ],
      });
    expect(parse).toThrow(/as/);
  });
});
