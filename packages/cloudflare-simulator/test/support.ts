import Cloudflare from 'cloudflare';
import { startSimulator, type DemoSeed, type RunningSimulator, type StartSimulatorOptions } from '../src';

export interface DemoFixture {
  sim: RunningSimulator;
  demo: DemoSeed;
  /** SDK client holding the demo warden token (every permission token-warden needs). */
  warden: Cloudflare;
}

/** The simulator seeded with the demo account on a free loopback port. */
export async function startDemo(options: StartSimulatorOptions = {}): Promise<DemoFixture> {
  const sim = await startSimulator({ port: 0, seed: 'demo', ...options });
  if (!sim.demo) throw new Error('no demo seed');
  const demo = sim.demo;
  return { sim, demo, warden: client(sim, required(demo.apiTokens.warden.value)) };
}

/** An SDK client against the simulator; no SDK retries, no credentials from process.env. */
export function client(sim: RunningSimulator, apiToken: string, extra: { fetch?: typeof fetch } = {}): Cloudflare {
  return new Cloudflare({
    apiToken,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: sim.baseURL,
    maxRetries: 0,
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
  });
}

export function required<T>(value: T | null | undefined): T {
  if (value === null || value === undefined) throw new Error('expected a value');
  return value;
}

/** Calls the probe app with a service token credential; resolves to the HTTP status. */
export async function probe(
  sim: RunningSimulator,
  appId: string,
  clientId: string,
  clientSecret: string,
): Promise<number> {
  const response = await fetch(sim.probeUrl(appId), {
    headers: { 'CF-Access-Client-Id': clientId, 'CF-Access-Client-Secret': clientSecret },
  });
  await response.arrayBuffer();
  return response.status;
}

/** A raw request to the API with a bearer token; resolves to status and parsed body. */
export async function raw(
  sim: RunningSimulator,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: unknown; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token !== undefined) headers['authorization'] = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${sim.baseURL}${path}`, {
    method,
    headers,
    ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : JSON.parse(text), headers: response.headers };
}

/** The first error code of a Cloudflare failure envelope. */
export function errorCode(body: unknown): number | undefined {
  if (typeof body !== 'object' || body === null || !('errors' in body) || !Array.isArray(body.errors)) return undefined;
  const first: unknown = body.errors[0];
  return typeof first === 'object' && first !== null && 'code' in first && typeof first.code === 'number'
    ? first.code
    : undefined;
}

/** A request to the simulator's admin routes (`/__sim`), with its admin key unless `key` says otherwise. */
export async function admin(
  sim: RunningSimulator,
  method: string,
  path: string,
  body?: unknown,
  key: string | null = sim.adminKey,
): Promise<{ status: number; body: { success: boolean; result: unknown } }> {
  const response = await fetch(`${sim.origin}/__sim${path}`, {
    method,
    headers: {
      ...(key ? { 'x-sim-admin-key': key } : {}),
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: response.status, body: JSON.parse(await response.text()) };
}

/** The `r` (remaining) and `t` (seconds to reset) of a `Ratelimit: "default";r=…;t=…` header, or undefined without one. */
export function rateLimitHeader(headers: Headers): { r: number; t: number } | undefined {
  const match = /^"default";r=(\d+);t=(\d+)$/.exec(headers.get('ratelimit') ?? '');
  return match ? { r: Number(match[1]), t: Number(match[2]) } : undefined;
}
