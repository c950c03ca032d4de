import { ConfigError, type Environment } from '../config';
import type { UiIdentitySettings } from '../api/ui-identity';

/**
 * Browser origins allowed to call the codec: TEMPORAL_UI_ORIGINS when set; otherwise the origin
 * of TEMPORAL_UI_URL (where operators open the UI) and loopback on TEMPORAL_UI_PORT (`npm start`).
 */
export function temporalUiOrigins(env: Environment): string[] {
  if (env.TEMPORAL_UI_ORIGINS)
    return env.TEMPORAL_UI_ORIGINS.split(',')
      .map((origin) => origin.trim())
      .filter(Boolean);
  const origins = [`http://127.0.0.1:${env.TEMPORAL_UI_PORT}`, `http://localhost:${env.TEMPORAL_UI_PORT}`];
  if (env.TEMPORAL_UI_URL) origins.unshift(new URL(env.TEMPORAL_UI_URL).origin);
  return origins;
}

/** How the codec recognises the Temporal UI's users; both Access settings or neither. */
export function uiIdentitySettings(env: Environment): UiIdentitySettings {
  if (Boolean(env.CF_ACCESS_TEAM_DOMAIN) !== Boolean(env.CF_ACCESS_AUD))
    throw new ConfigError([
      "environment: CF_ACCESS_TEAM_DOMAIN and CF_ACCESS_AUD: set both (the Access team domain and the Temporal UI application's AUD tag) or neither",
    ]);
  return {
    cloudflareAccess:
      env.CF_ACCESS_TEAM_DOMAIN && env.CF_ACCESS_AUD
        ? { teamDomain: env.CF_ACCESS_TEAM_DOMAIN, audience: env.CF_ACCESS_AUD }
        : undefined,
    oidc: env.TEMPORAL_UI_OIDC_ISSUER
      ? { issuer: env.TEMPORAL_UI_OIDC_ISSUER, audience: env.TEMPORAL_UI_OIDC_AUDIENCE }
      : undefined,
  };
}
