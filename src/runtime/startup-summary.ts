import path from 'node:path';
import type { Environment } from '../config';
import { seconds } from './startup-phases';

export interface StartupSummary {
  env: Environment;
  apiUrl: string;
  /** Name → address of everything else a person may open (Temporal UI and gRPC, Postgres, simulator). */
  urls: Record<string, string>;
  simulated: boolean;
  clientToken: string | undefined;
  readyMs: number;
}

/** The block `npm start` prints once everything answers: every address, and how to call the API. */
export function startupSummary({ env, apiUrl, urls, simulated, clientToken, readyMs }: StartupSummary): string {
  const row = (name: string, value: string) => `  ${name.padEnd(22)} ${value}`;
  const lines = [
    '',
    `token-warden is ready (${seconds(readyMs)} after start).`,
    row('API', `${apiUrl}   (dashboard ${apiUrl}/, docs ${apiUrl}/docs, metrics ${apiUrl}/metrics)`),
    ...Object.entries(urls).map(([name, url]) => row(name, url)),
    row('Data', path.resolve(env.DATA_DIR)),
  ];
  if (urls['Postgres (embedded)'])
    lines.push(
      '',
      `  psql and pg_dump take the Postgres URL as it is; its password is in ${path.resolve(env.DATA_DIR, 'postgres.pgpass')}.`,
    );
  if (simulated) {
    lines.push(
      '',
      '  Cloudflare is SIMULATED: no real account is touched. Set CLOUDFLARE_API_TOKEN to manage a real one.',
    );
    if (!env.CLIENT_AUTH_TOKEN && clientToken)
      lines.push(
        `  API client token (generated, kept in ${env.DATA_DIR}/client-auth-token):`,
        `    export CLIENT_AUTH_TOKEN=${clientToken}`,
      );
  }
  lines.push(
    `  Try: curl -H "Authorization: Bearer $CLIENT_AUTH_TOKEN" -X POST ${apiUrl}/api-tokens/verify`,
    '  Ctrl-C stops everything.',
    '',
  );
  return `${lines.join('\n')}\n`;
}
