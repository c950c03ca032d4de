import type { FastifyBaseLogger } from 'fastify';
import { API_PREFIX, buildSimulatorApp } from './app';
import { CallCounter, type ApiRequestListener } from './calls';
import { SimClock } from './clock';
import { FaultController } from './faults';
import type { FaultRuleInput, RateLimitPatch, RateLimitTarget } from './faults-schema';
import type { FaultRuleView } from './faults';
import { randomHex } from './ids';
import { RateLimiter, type RateLimitConfig, type RateLimitKeySnapshot } from './rate-limit';
import { RateLimitControl, type RateLimitSpendResult } from './rate-limit-control';
import { OperationRegistry, type OperationMeta } from './operations';
import { PROBE_PREFIX } from './probe';
import { loadStateFile, saveStateFile } from './state/persistence';
import { SimulatorState } from './state/state';
import { emptySimData } from './state/store';
import type { DemoSeed } from './state/types';

export interface StartSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1: the simulator listens on loopback only. */
  host?: string;
  /** Persist state to this JSON file (written atomically after every change) and load it at start. */
  stateFile?: string;
  /** 'demo' (default) seeds the demo account unless the loaded state was seeded already. */
  seed?: 'demo' | 'none';
  /** Speeds up the rate-limit window: 300 turns 5 minutes into 1 second. */
  timeScale?: number;
  /** Seed for fault randomness (default 1), so fault sequences repeat. */
  faultSeed?: number;
  /** Key for /__sim admin routes; random when omitted (read it from `adminKey`). */
  adminKey?: string;
  /** Overrides of Cloudflare's 1,200 requests / 300 s per user rate limit (and `headers: false` to send none of its headers). */
  rateLimit?: Partial<Omit<RateLimitConfig, 'timeScale'>>;
  /** Clock source (default Date.now); the simulator's clock can also be moved with `clock.advance`. */
  now?: () => number;
  logger?: false | FastifyBaseLogger;
}

export interface SimulatorFaults {
  /** Replaces all rules; returns their ids. */
  set(rules: FaultRuleInput | FaultRuleInput[]): string[];
  add(rule: FaultRuleInput): string;
  remove(id: string): boolean;
  clear(): void;
  list(): FaultRuleView[];
  reseed(seed: number): void;
  /** The same as `sim.rateLimit.configure`. */
  rateLimit(patch?: RateLimitPatch): RateLimitConfig;
  /** The same as `sim.rateLimit.reset`. */
  resetRateLimit(): void;
}

/** Cloudflare's rate limit as the simulator enforces it; see README.md, "Rate limit". */
export interface SimulatorRateLimit {
  /** Reads the settings, or changes them (any change but `headers` alone forgets every window and block). */
  configure(patch?: RateLimitPatch): RateLimitConfig;
  /** Forgets every window and block. */
  reset(): void;
  /** The key a token value's requests count against (`user:<user id>` or `account-token:<token id>`); undefined if no token has it. */
  keyOf(tokenValue: string): string | undefined;
  /**
   * Spends `n` requests of the target's allowance as another client of the same owner
   * (dashboard, Terraform) would: they count toward the window and can start the block.
   * Throws (404) for a token value no API token has.
   */
  spend(target: RateLimitTarget, n: number): RateLimitSpendResult;
  /** The target's window and block as of now. */
  snapshot(target: RateLimitTarget): RateLimitKeySnapshot;
  /** Every key with an open window or block. */
  snapshots(): RateLimitKeySnapshot[];
}

export interface SimulatorCalls {
  /** { [operationId]: { [status | "dropped"]: count } } — the probe counts as "probe". */
  counts(): Record<string, Record<string, number>>;
  count(operationId: string, outcome?: number | 'dropped'): number;
  total(): number;
  reset(): void;
  /**
   * Every API request the rate limit counts (not the probe, not unknown routes) goes to
   * `listener` as it arrives, with its operationId, time, whether it was refused 429, the
   * key it counted against and its window; outside requests spent through
   * `sim.rateLimit.spend` come too, with `outside: true`. Returns the unsubscribe.
   */
  onRequest(listener: ApiRequestListener): () => void;
}

export interface RunningSimulator {
  /** e.g. http://127.0.0.1:PORT/client/v4 — pass as `baseURL` to `new Cloudflare({ apiToken, baseURL })`. */
  baseURL: string;
  /** e.g. http://127.0.0.1:PORT */
  origin: string;
  port: number;
  adminKey: string;
  /** URL of the Access-protected probe app for an Access application id. */
  probeUrl(appId: string): string;
  /** Present when seeded with 'demo'. */
  demo?: DemoSeed;
  state: SimulatorState;
  faults: SimulatorFaults;
  calls: SimulatorCalls;
  rateLimit: SimulatorRateLimit;
  clock: SimClock;
  /** Every API operation: method, route (relative to baseURL), operationId and required permissions. */
  operations(): Array<OperationMeta & { method: string; url: string }>;
  close(): Promise<void>;
}

export async function startSimulator(options: StartSimulatorOptions = {}): Promise<RunningSimulator> {
  const clock = new SimClock(options.now);
  const { stateFile } = options;
  const data = (stateFile ? loadStateFile(stateFile) : undefined) ?? emptySimData();
  const state = new SimulatorState(data, clock, stateFile ? (d) => saveStateFile(stateFile, d) : undefined);
  const faults = new FaultController(options.faultSeed ?? 1);
  const rateLimiter = new RateLimiter(clock, { ...options.rateLimit, timeScale: options.timeScale ?? 1 });
  const calls = new CallCounter();
  const rateLimit = new RateLimitControl(rateLimiter, calls, state);
  const adminKey = options.adminKey ?? randomHex(16);
  const demo = (options.seed ?? 'demo') === 'demo' ? state.seedDemo() : undefined;
  if (stateFile) state.store.save();

  const operations = new OperationRegistry();
  const app = buildSimulatorApp({
    state,
    faults,
    rateLimiter,
    rateLimit,
    calls,
    clock,
    adminKey,
    operations,
    logger: options.logger ?? false,
  });
  await app.listen({ port: options.port ?? 0, host: options.host ?? '127.0.0.1' });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('the simulator is not listening on a TCP port');
  const { port } = address;
  const host = options.host ?? '127.0.0.1';
  const origin = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let closed = false;
  return {
    baseURL: `${origin}${API_PREFIX}`,
    origin,
    port,
    adminKey,
    probeUrl: (appId) => `${origin}${PROBE_PREFIX}/${encodeURIComponent(appId)}`,
    ...(demo ? { demo } : {}),
    state,
    clock,
    operations: () => operations.all(),
    faults: {
      set: (rules) => faults.set(rules),
      add: (rule) => faults.add(rule),
      remove: (id) => faults.remove(id),
      clear: () => faults.clear(),
      list: () => faults.list(),
      reseed: (seed) => faults.reseed(seed),
      rateLimit: (patch) => (patch ? rateLimiter.configure(patch) : rateLimiter.config),
      resetRateLimit: () => rateLimiter.reset(),
    },
    calls: {
      counts: () => calls.counts(),
      count: (operationId, outcome) => calls.count(operationId, outcome),
      total: () => calls.total(),
      reset: () => calls.reset(),
      onRequest: (listener) => calls.onRequest(listener),
    },
    rateLimit: {
      configure: (patch) => (patch ? rateLimiter.configure(patch) : rateLimiter.config),
      reset: () => rateLimiter.reset(),
      keyOf: (tokenValue) => rateLimit.keyOf(tokenValue),
      spend: (target, n) => rateLimit.spend(target, n),
      snapshot: (target) => rateLimit.snapshot(target),
      snapshots: () => rateLimit.snapshots(),
    },
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      state.store.flush();
    },
  };
}
