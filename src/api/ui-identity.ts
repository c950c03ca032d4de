import type { FastifyRequest } from 'fastify';
import type { JWTVerifyGetKey } from 'jose';

/**
 * Who a browser is, for the Temporal UI's calls to the codec: the UI sends no API client token,
 * but it can send what its own login gave the user. Two sources, as Temporal and Cloudflare
 * document them:
 * - Cloudflare Access in front of the UI: the `Cf-Access-Jwt-Assertion` header or the
 *   `CF_Authorization` cookie (the UI's "include cross-origin credentials"), signed by the team's
 *   keys at `<team domain>/cdn-cgi/access/certs`, audience the Access application's AUD tag.
 * - The UI's own OIDC login with `TEMPORAL_CODEC_PASS_ACCESS_TOKEN`: `Authorization: Bearer <jwt>`
 *   from the issuer, keys found through its discovery document.
 */
export interface UiIdentitySettings {
  cloudflareAccess?: { teamDomain: string; audience: string };
  oidc?: { issuer: string; audience?: string };
}

export interface UiIdentity {
  /** What carried it: the Access JWT, or the OIDC token as a bearer. */
  via: 'cf-access' | 'bearer';
  /** The user (email, else subject): for logs at debug, never a metric label. */
  subject: string;
}

export type VerifyUiIdentity = (request: FastifyRequest) => Promise<UiIdentity | null>;

const trimSlash = (url: string) => url.replace(/\/+$/, '');
/** `myteam.cloudflareaccess.com` or a full origin (tests serve one on loopback). */
const teamOrigin = (domain: string) => trimSlash(/^https?:\/\//.test(domain) ? domain : `https://${domain}`);

function cookie(request: FastifyRequest, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? '').split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return value.join('=');
  }
  return undefined;
}

async function discoverJwksUri(issuer: string): Promise<URL> {
  const response = await fetch(`${trimSlash(issuer)}/.well-known/openid-configuration`);
  if (!response.ok) throw new Error(`OIDC discovery at ${issuer} answered ${response.status}`);
  const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: unknown };
  if (typeof jwksUri !== 'string') throw new Error(`OIDC discovery at ${issuer} names no jwks_uri`);
  return new URL(jwksUri);
}

/** Null when neither source is configured: the codec then takes API client tokens only. */
export function createUiIdentityVerifier(settings: UiIdentitySettings): VerifyUiIdentity | null {
  const { cloudflareAccess, oidc } = settings;
  if (!cloudflareAccess && !oidc) return null;
  // Key sets are fetched on first use and cached (and refreshed on an unknown key id) by jose.
  let accessKeys: JWTVerifyGetKey | undefined;
  let oidcKeys: Promise<JWTVerifyGetKey> | undefined;

  return async (request) => {
    const jose = await import('jose');
    const verified = async (token: string, keys: JWTVerifyGetKey, issuer: string, audience?: string) =>
      jose.jwtVerify(token, keys, { issuer, audience, algorithms: ['RS256', 'ES256', 'EdDSA'] }).then(
        ({ payload }) => payload,
        () => null,
      );

    if (cloudflareAccess) {
      const header = request.headers['cf-access-jwt-assertion'];
      const token = (typeof header === 'string' ? header : undefined) ?? cookie(request, 'CF_Authorization');
      if (token) {
        const issuer = teamOrigin(cloudflareAccess.teamDomain);
        accessKeys ??= jose.createRemoteJWKSet(new URL(`${issuer}/cdn-cgi/access/certs`));
        const claims = await verified(token, accessKeys, issuer, cloudflareAccess.audience);
        if (claims) return { via: 'cf-access', subject: String(claims.email ?? claims.sub) };
      }
    }
    if (oidc) {
      const token = /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1];
      if (token && token.split('.').length === 3) {
        oidcKeys ??= discoverJwksUri(oidc.issuer).then((uri) => jose.createRemoteJWKSet(uri));
        const keys = await oidcKeys.catch((error: unknown) => {
          oidcKeys = undefined; // the issuer was unreachable: ask again next time
          throw error;
        });
        const claims = await verified(token, keys, oidc.issuer, oidc.audience);
        if (claims) return { via: 'bearer', subject: String(claims.email ?? claims.sub) };
      }
    }
    return null;
  };
}
