import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';

export interface IdentityProvider {
  /** The issuer: a Cloudflare Access team domain and an OIDC issuer at once, on loopback. */
  issuer: string;
  /** A signed JWT from this issuer (or from a stranger's key with `foreignKey`). */
  sign(
    claims: Record<string, unknown>,
    options: { audience: string; expiresIn?: string | number; foreignKey?: boolean; issuer?: string },
  ): Promise<string>;
  /** Key-set requests served so far (they are cached by the verifier). */
  keyFetches: number;
  close(): Promise<void>;
}

/**
 * A real HTTP identity provider on loopback: Access's `/cdn-cgi/access/certs` and an OIDC
 * discovery document with its `jwks_uri`, both serving one RS256 key.
 */
export async function startIdentityProvider(): Promise<IdentityProvider> {
  const own = await generateKeyPair('RS256', { extractable: true });
  const stranger = await generateKeyPair('RS256');
  const jwk: JWK = { ...(await exportJWK(own.publicKey)), kid: 'test-key', alg: 'RS256', use: 'sig' };
  let issuer = '';
  const provider = {
    issuer,
    keyFetches: 0,
  } as IdentityProvider;
  const server = http.createServer((request, response) => {
    const send = (body: unknown) =>
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (request.url === '/cdn-cgi/access/certs' || request.url === '/jwks') {
      provider.keyFetches += 1;
      return send({ keys: [jwk] });
    }
    if (request.url === '/.well-known/openid-configuration') return send({ issuer, jwks_uri: `${issuer}/jwks` });
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  provider.issuer = issuer;
  provider.sign = async (claims, options) => {
    const key: CryptoKey = options.foreignKey ? stranger.privateKey : own.privateKey;
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' })
      .setIssuer(options.issuer ?? issuer)
      .setAudience(options.audience)
      .setIssuedAt()
      .setExpirationTime(options.expiresIn ?? '5m')
      .sign(key);
  };
  provider.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return provider;
}
