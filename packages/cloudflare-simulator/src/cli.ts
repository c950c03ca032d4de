/**
 * `npm run simulator -- [--port 8787] [--host 127.0.0.1] [--state FILE] [--seed demo|none]
 *  [--time-scale N] [--fault-seed N] [--admin-key KEY]`
 *
 * Starts the Cloudflare simulator seeded with the demo account and prints shell-ready
 * KEY=value lines (CLOUDFLARE_BASE_URL, CLOUDFLARE_ACCOUNT_ID, CLOUDFLARE_API_TOKEN, …).
 * They include credentials on purpose: that is how you wire a local token-warden to it.
 * Ctrl-C (SIGINT) or SIGTERM closes it cleanly.
 */
import { parseArgs } from 'node:util';
import { startSimulator, type RunningSimulator } from './server';

function number(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number, got "${text}"`);
  return value;
}

function envLines(sim: RunningSimulator): string[] {
  const lines = [
    '# Cloudflare SIMULATOR for token-warden: simulation mode, not the real Cloudflare API. Ctrl-C stops it.',
  ];
  const add = (key: string, value: string | null | undefined, what: string): void => {
    lines.push(
      value ? `${key}=${value}` : `# ${key}: ${what} changed since the demo seed; its value cannot be shown again`,
    );
  };
  lines.push(`CLOUDFLARE_BASE_URL=${sim.baseURL}`);
  const { demo } = sim;
  if (demo) {
    lines.push(`CLOUDFLARE_ACCOUNT_ID=${demo.accountId}`);
    add('CLOUDFLARE_API_TOKEN', demo.apiTokens.warden.value, 'the warden token');
    add('CLOUDFLARE_ACCOUNT_TOKEN', demo.apiTokens.account.value, 'the account token');
    add('CLOUDFLARE_USER_TOKEN', demo.apiTokens.user.value, 'the user token');
    lines.push(`CLOUDFLARE_SIM_PROBE_URL=${sim.probeUrl(demo.accessApp.id)}`);
    const consumer = demo.serviceTokens.find((t) => t.name === 'chaos-consumer');
    if (consumer) {
      lines.push(`CF_ACCESS_CLIENT_ID=${consumer.clientId}`);
      add('CF_ACCESS_CLIENT_SECRET', consumer.clientSecret, 'the chaos-consumer service token secret');
    }
  }
  lines.push(`CLOUDFLARE_SIM_ADMIN_KEY=${sim.adminKey}`);
  lines.push(`CLOUDFLARE_SIM_ADMIN_URL=${sim.origin}/__sim`);
  return lines;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      state: { type: 'string' },
      seed: { type: 'string' },
      'time-scale': { type: 'string' },
      'fault-seed': { type: 'string' },
      'admin-key': { type: 'string' },
    },
    strict: true,
  });
  if (values.seed !== undefined && values.seed !== 'demo' && values.seed !== 'none')
    throw new Error('--seed must be demo or none');
  const sim = await startSimulator({
    port: number('port', values.port, 8787),
    host: values.host ?? '127.0.0.1',
    seed: values.seed === 'none' ? 'none' : 'demo',
    timeScale: number('time-scale', values['time-scale'], 1) || 1,
    faultSeed: number('fault-seed', values['fault-seed'], 1),
    ...(values.state !== undefined ? { stateFile: values.state } : {}),
    ...(values['admin-key'] !== undefined ? { adminKey: values['admin-key'] } : {}),
  });
  process.stdout.write(`${envLines(sim).join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`# ${signal}: closing the Cloudflare simulator\n`);
    sim.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`# closing failed: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGTERM', () => stop('SIGTERM'));
}

main().catch((error: unknown) => {
  process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
