import { createHash, timingSafeEqual } from 'node:crypto';

export interface ApiClient {
  name: string;
  token: string;
}

/** CLIENT_AUTH_TOKEN (the seed's single client) plus API_CLIENT_TOKENS "name:token,...". */
export function apiClientsFromEnvironment(env: { CLIENT_AUTH_TOKEN?: string; API_CLIENT_TOKENS?: string }): ApiClient[] {
  const clients: ApiClient[] = [];
  if (env.CLIENT_AUTH_TOKEN) clients.push({ name: 'default', token: env.CLIENT_AUTH_TOKEN });
  for (const entry of (env.API_CLIENT_TOKENS ?? '').split(',').map((e) => e.trim()).filter(Boolean)) {
    const separator = entry.indexOf(':');
    if (separator <= 0 || separator === entry.length - 1) throw new Error('API_CLIENT_TOKENS entries must look like "name:token"');
    clients.push({ name: entry.slice(0, separator), token: entry.slice(separator + 1) });
  }
  return clients;
}

const digest = (value: string) => createHash('sha256').update(value).digest();

/** Compares every client's token in constant time, so timing never tells how much matched. */
export function findClient(clients: readonly ApiClient[], presented: string): ApiClient | undefined {
  const presentedDigest = digest(presented);
  let found: ApiClient | undefined;
  for (const client of clients) {
    if (timingSafeEqual(digest(client.token), presentedDigest) && !found) found = client;
  }
  return found;
}
