import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { customSearchAttributes } from './search-attributes';
import type { TemporalCli } from './cli-binary';

export interface DevServerOptions {
  cli: TemporalCli;
  ip?: string;
  port: number;
  /** Web UI port; omit for a headless server. */
  uiPort?: number;
  /** Where the Web UI sends payloads to be decrypted (token-warden's /codec). */
  uiCodecEndpoint?: string;
  /** SQLite file for a server that keeps its state across restarts; omit for in-memory. */
  dbFile?: string;
  namespace?: string;
  log?: (line: string) => void;
}

export interface RunningDevServer {
  address: string;
  uiUrl?: string;
  /**
   * SIGTERM (the default) shuts the server down; SIGKILL crashes it. Either way, a server with a
   * `dbFile` carries on where it was when started again on the same file and port.
   */
  stop(signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
}

const SEARCH_ATTRIBUTE_FLAGS = customSearchAttributes.flatMap((key) => ['--search-attribute', `${key.name}=Keyword`]);
/**
 * Eager activity dispatch: an activity on the queue of the worker that scheduled it starts in the
 * same round trip. An emergency revoke's first activity (the kill) relies on it to reach
 * Cloudflare sooner; self-hosted servers need this dynamic config too (README).
 */
const DYNAMIC_CONFIG_FLAGS = ['--dynamic-config-value', 'system.enableActivityEagerExecution=true'];

export async function isPortOpen(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitForFrontend(address: string, child: ChildProcess | undefined, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new Error(`temporal server exited with code ${child.exitCode} before it was ready`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        await connection.workflowService.getSystemInfo({});
        return;
      } finally {
        await connection.close();
      }
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(`Temporal dev server at ${address} not ready after ${timeoutMs} ms: ${String(lastError)}`);
}

/** Starts `temporal server start-dev` with the project's search attributes registered. */
export async function startDevServer(options: DevServerOptions): Promise<RunningDevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const address = `${ip}:${options.port}`;
  const namespace = options.namespace ?? 'default';
  if (options.cli.type === 'download') return startDownloadedServer(options, address, namespace);

  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(options.port),
    '--namespace',
    namespace,
    '--log-level',
    'warn',
    ...SEARCH_ATTRIBUTE_FLAGS,
    ...DYNAMIC_CONFIG_FLAGS,
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  if (options.uiPort && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  else args.push('--headless');
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  const child = spawn(options.cli.path, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  try {
    await waitForFrontend(address, child, 60_000);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${stderrTail}`);
  }
  return {
    address,
    uiUrl: options.uiPort ? `http://${ip}:${options.uiPort}` : undefined,
    stop: (signal = 'SIGTERM') => stopChild(child, signal),
  };
}

async function stopChild(child: ChildProcess, signal: 'SIGTERM' | 'SIGKILL'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function startDownloadedServer(
  options: DevServerOptions,
  address: string,
  namespace: string,
): Promise<RunningDevServer> {
  // Only reached on machines without a CLI or Go; @temporalio/testing fetches the server binary.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      ip: options.ip ?? '127.0.0.1',
      port: options.port,
      uiPort: options.uiPort,
      ui: Boolean(options.uiPort),
      dbFilename: options.dbFile,
      namespace,
      searchAttributes: [...customSearchAttributes],
    },
  });
  // The SDK's server stops one way only.
  return {
    address,
    uiUrl: options.uiPort ? `http://${options.ip ?? '127.0.0.1'}:${options.uiPort}` : undefined,
    stop: () => env.teardown(),
  };
}
