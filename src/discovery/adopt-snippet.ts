import { stringify } from 'yaml';
import type { DiscoveredCredential } from './credential-schemas';

/** An inventory name (`^[a-z0-9][a-z0-9-]*$`) made of a Cloudflare name. */
export function inventoryNameOf(name: string, id: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 60);
  return slug || `token-${id.slice(0, 8).toLowerCase()}`;
}

/**
 * The inventory entry that would adopt a discovered credential, as YAML to paste into the
 * inventory file. References only: the secret is named by an environment variable the operator
 * fills, never carried (discovery never sees one).
 */
export function adoptionSnippet(
  credential: Pick<DiscoveredCredential, 'accountId' | 'kind' | 'id' | 'zoneId' | 'name' | 'permissions'>,
): string {
  if (credential.kind === 'service-token') {
    const entry = {
      name: credential.name,
      ...(credential.zoneId ? { zoneId: credential.zoneId } : {}),
      // Zone-scoped tokens have no rotate endpoint (see config.ts).
      strategy: credential.zoneId ? 'replace' : 'rotate-secret',
      targets: [],
    };
    return stringify({ accounts: [{ id: credential.accountId, serviceTokens: [entry] }] });
  }
  const name = inventoryNameOf(credential.name, credential.id);
  const entry = {
    name,
    kind: credential.kind === 'account-api-token' ? 'account' : 'user',
    id: credential.id,
    secretFrom: { env: `${name.replace(/-/g, '_').toUpperCase()}_CLOUDFLARE_TOKEN` },
    requiredPermissions: credential.permissions ?? [],
  };
  return stringify({ accounts: [{ id: credential.accountId, apiTokens: [entry] }] });
}
