import { defaultPayloadConverter } from '@temporalio/common';
import type { FastifyInstance } from 'fastify';
import { ConfigError, parseEnvironment } from '../../src/config';
import { createUiIdentityVerifier } from '../../src/api/ui-identity';
import { temporalUiOrigins, uiIdentitySettings } from '../../src/runtime/temporal-ui';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';
import { startIdentityProvider, type IdentityProvider } from '../support/identity-provider';
import { startApiStack, type ApiStack } from './support';

const UI_ORIGIN = 'https://temporal.example.com';
const AUD = 'a3f0c1d2e4b5a6978899aabbccddeeff00112233445566778899aabbccddeeff';

/**
 * The Temporal UI in production sends no API client token: the codec recognises its users by
 * their Cloudflare Access JWT (header or cookie) or the UI's OIDC access token, each verified
 * against the issuer's keys over real HTTP.
 */
describe('codec: the Temporal UI authenticates with its users login', () => {
  let api: ApiStack;
  let idp: IdentityProvider;
  let app: FastifyInstance;
  let encrypted: unknown[];

  beforeAll(async () => {
    api = await startApiStack();
    idp = await startIdentityProvider();
    const verify = createUiIdentityVerifier({
      cloudflareAccess: { teamDomain: idp.issuer, audience: AUD },
      oidc: { issuer: idp.issuer, audience: 'temporal-ui' },
    });
    app = await api.app({
      codec: {
        codec: new AesGcmPayloadCodec(api.stack.keys),
        uiOrigins: [UI_ORIGIN],
        public: false,
        uiIdentity: verify,
      },
    });
    const [payload] = await new AesGcmPayloadCodec(api.stack.keys).encode([
      defaultPayloadConverter.toPayload({ reason: 'seen' }),
    ]);
    encrypted = [
      {
        metadata: Object.fromEntries(
          Object.entries(payload!.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
        data: Buffer.from(payload!.data!).toString('base64'),
      },
    ];
  });
  afterAll(async () => {
    await api?.close();
    await idp?.close();
  });

  const decode = (headers: Record<string, string>) =>
    app.inject({
      method: 'POST',
      url: '/codec/decode',
      headers: { origin: UI_ORIGIN, ...headers },
      payload: { payloads: encrypted },
    });
  const decodedReason = (body: { payloads: Array<{ data: string }> }) =>
    JSON.parse(Buffer.from(body.payloads[0]!.data, 'base64').toString()).reason;

  it('decodes for an Access JWT in the Cf-Access-Jwt-Assertion header or the CF_Authorization cookie', async () => {
    const jwt = await idp.sign({ email: 'ops@example.com', sub: 'u1' }, { audience: AUD });
    const byHeader = await decode({ 'cf-access-jwt-assertion': jwt });
    expect(byHeader.statusCode).toBe(200);
    expect(decodedReason(byHeader.json())).toBe('seen');
    expect(byHeader.headers['access-control-allow-origin']).toBe(UI_ORIGIN);
    expect(byHeader.headers['access-control-allow-credentials']).toBe('true');
    const byCookie = await decode({ cookie: `theme=dark; CF_Authorization=${jwt}` });
    expect(byCookie.statusCode).toBe(200);
    expect(decodedReason(byCookie.json())).toBe('seen');
  });

  it('refuses an Access JWT for another application, expired, from another issuer or signed by another key', async () => {
    const claims = { email: 'ops@example.com', sub: 'u1' };
    const refused = [
      await idp.sign(claims, { audience: 'another-app' }),
      await idp.sign(claims, { audience: AUD, expiresIn: Math.floor(Date.now() / 1000) - 60 }),
      await idp.sign(claims, { audience: AUD, issuer: 'https://elsewhere.cloudflareaccess.com' }),
      await idp.sign(claims, { audience: AUD, foreignKey: true }),
      'not-a-jwt',
    ];
    for (const jwt of refused) {
      const response = await decode({ 'cf-access-jwt-assertion': jwt });
      expect(response.statusCode).toBe(401);
      expect(JSON.stringify(response.json())).not.toContain(jwt);
    }
  });

  it("decodes for the UI's OIDC access token passed as a bearer, and refuses one for another audience", async () => {
    const token = await idp.sign({ sub: 'oidc-user' }, { audience: 'temporal-ui' });
    const ok = await decode({ authorization: `Bearer ${token}` });
    expect(ok.statusCode).toBe(200);
    expect(decodedReason(ok.json())).toBe('seen');
    const other = await idp.sign({ sub: 'oidc-user' }, { audience: 'some-other-client' });
    expect((await decode({ authorization: `Bearer ${other}` })).statusCode).toBe(401);
  });

  it('is a codec credential only: the same login opens no other route', async () => {
    const jwt = await idp.sign({ email: 'ops@example.com' }, { audience: AUD });
    const listing = await app.inject({
      method: 'GET',
      url: '/service-tokens',
      headers: { 'cf-access-jwt-assertion': jwt },
    });
    expect(listing.statusCode).toBe(401);
    const bearer = await idp.sign({ sub: 'oidc-user' }, { audience: 'temporal-ui' });
    expect(
      (await app.inject({ method: 'GET', url: '/service-tokens', headers: { authorization: `Bearer ${bearer}` } }))
        .statusCode,
    ).toBe(401);
  });

  it('answers 503 while the OIDC issuer cannot be reached, and recovers when it can', async () => {
    const unreachable = createUiIdentityVerifier({ oidc: { issuer: 'http://127.0.0.1:9', audience: 'temporal-ui' } });
    const down = await api.app({
      codec: {
        codec: new AesGcmPayloadCodec(api.stack.keys),
        uiOrigins: [UI_ORIGIN],
        public: false,
        uiIdentity: unreachable,
      },
    });
    const token = await idp.sign({ sub: 'oidc-user' }, { audience: 'temporal-ui' });
    const response = await down.inject({
      method: 'POST',
      url: '/codec/decode',
      headers: { authorization: `Bearer ${token}` },
      payload: { payloads: encrypted },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json().error.code).toBe('identity_provider_unavailable');
  });
});

describe('codec settings from the environment', () => {
  const env = (extra: Record<string, string>) => parseEnvironment({ ...extra });

  it("allows the UI's own origin and loopback on its port; an explicit list replaces both", () => {
    expect(temporalUiOrigins(env({ TEMPORAL_UI_PORT: '9233' }))).toEqual([
      'http://127.0.0.1:9233',
      'http://localhost:9233',
    ]);
    expect(
      temporalUiOrigins(env({ TEMPORAL_UI_URL: 'https://temporal.example.com/ui/', TEMPORAL_UI_PORT: '9233' })),
    ).toEqual(['https://temporal.example.com', 'http://127.0.0.1:9233', 'http://localhost:9233']);
    expect(temporalUiOrigins(env({ TEMPORAL_UI_ORIGINS: 'https://a.example, https://b.example' }))).toEqual([
      'https://a.example',
      'https://b.example',
    ]);
  });

  it('refuses half an Access configuration at start-up', () => {
    expect(() => uiIdentitySettings(env({ CF_ACCESS_TEAM_DOMAIN: 'team.cloudflareaccess.com' }))).toThrow(ConfigError);
    expect(uiIdentitySettings(env({ CF_ACCESS_TEAM_DOMAIN: 'team.cloudflareaccess.com', CF_ACCESS_AUD: AUD }))).toEqual(
      {
        cloudflareAccess: { teamDomain: 'team.cloudflareaccess.com', audience: AUD },
        oidc: undefined,
      },
    );
    expect(createUiIdentityVerifier(uiIdentitySettings(env({})))).toBeNull();
  });
});
