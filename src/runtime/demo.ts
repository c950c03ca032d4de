import path from 'node:path';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import type { Inventory } from '../config';
import type { PendingSecretStore } from '../secrets/pending-secrets';
import { createStore, propagationTargetSchema, type StoreDeps } from '../stores';

/** The values config/demo.inventory.yaml refers to; secrets only reach it through `secretFrom`. */
export function demoVariables(simulator: RunningSimulator, dataDir: string): Record<string, string> {
  const demo = simulator.demo;
  if (!demo) throw new Error('the simulator has no demo seed');
  const variables: Record<string, string> = {
    CLOUDFLARE_ACCOUNT_ID: demo.accountId,
    DEMO_ZONE_ID: demo.zoneId,
    DEMO_SECRETS_STORE_ID: demo.secretsStore.id,
    DEMO_WORKER_SCRIPT: demo.workerScript.name,
    DEMO_PROBE_URL: simulator.probeUrl(demo.accessApp.id),
    DATA_DIR: path.resolve(dataDir),
  };
  if (demo.apiTokens.account.value) variables.CLOUDFLARE_ACCOUNT_TOKEN = demo.apiTokens.account.value;
  if (demo.apiTokens.user.value) variables.CLOUDFLARE_USER_TOKEN = demo.apiTokens.user.value;
  return variables;
}

/**
 * First start in simulation mode: every demo service token's initial credential is written to
 * its stores and recorded as current, as an operator would when adopting an existing token.
 * Later starts find a current credential on record and leave everything alone.
 */
export async function adoptDemoCredentials(
  simulator: RunningSimulator,
  inventory: Inventory,
  pending: Pick<PendingSecretStore, 'current' | 'setCurrent'>,
  stores: StoreDeps,
): Promise<string[]> {
  const adopted: string[] = [];
  for (const account of inventory.accounts) {
    for (const token of account.serviceTokens) {
      const seeded = simulator.demo?.serviceTokens.find((t) => t.name === token.name);
      if (!seeded?.clientSecret || (await pending.current({ accountId: account.id, tokenName: token.name }))) continue;
      const credential = { clientId: seeded.clientId, clientSecret: seeded.clientSecret };
      for (const raw of token.targets)
        await createStore(propagationTargetSchema.parse(raw), stores, { accountId: account.id }).write(credential);
      await pending.setCurrent({ accountId: account.id, tokenName: token.name }, credential);
      adopted.push(token.name);
    }
  }
  return adopted;
}
