import { randomUUID } from 'node:crypto';
import { FaultRuleSchema, type FaultRule, type FaultRuleInput } from './faults-schema';

export interface FaultRequest {
  operationId: string;
  method: string;
  /** Path without query string, e.g. /client/v4/accounts/…/rotate */
  path: string;
}

export interface FaultDecision {
  latencyMs: number;
  /** `retryAfter` only when the rule sets it; the pipeline answers a 429 without one with Retry-After: 1. */
  error?: { status: number; retryAfter?: number; ruleId: string };
  drop: boolean;
}

interface ActiveRule {
  rule: FaultRule & { id: string };
  pathPattern?: RegExp;
  fired: number;
}

export interface FaultRuleView extends Omit<FaultRule, 'match'> {
  id: string;
  match: { operationId?: string; method?: string; path?: string };
  fired: number;
}

const API_PREFIX = '/client/v4';

/** mulberry32: tiny, seedable, good enough to make fault sequences repeatable. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const escapeRe = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

export function compilePathPattern(pattern: string): RegExp {
  const body = pattern
    .split('/')
    .map((segment) => {
      if (segment === '**') return '.*';
      if (segment.startsWith(':') || /^\{[^}]+\}$/.test(segment)) return '[^/]+';
      return segment.split('*').map(escapeRe).join('[^/]*');
    })
    .join('/');
  return new RegExp(`^${body}/?$`);
}

/**
 * Run-time fault injection. Decisions draw from a seeded generator, so the same seed and
 * the same request sequence give the same faults.
 */
export class FaultController {
  private rules: ActiveRule[] = [];
  private random: () => number;

  constructor(seed = 1) {
    this.random = seededRandom(seed);
  }

  /** Replaces every rule with the given one(s); returns their ids. */
  set(rules: FaultRuleInput | FaultRuleInput[]): string[] {
    const list = Array.isArray(rules) ? rules : [rules];
    const parsed = list.map((r) => this.activate(r));
    this.rules = parsed;
    return parsed.map((r) => r.rule.id);
  }

  add(rule: FaultRuleInput): string {
    const active = this.activate(rule);
    this.rules.push(active);
    return active.rule.id;
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.rule.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  reseed(seed: number): void {
    this.random = seededRandom(seed);
  }

  list(): FaultRuleView[] {
    return this.rules.map(({ rule, fired }) => ({
      ...rule,
      match: {
        ...(rule.match.operationId !== undefined ? { operationId: rule.match.operationId } : {}),
        ...(rule.match.method !== undefined ? { method: rule.match.method } : {}),
        ...(rule.match.path !== undefined ? { path: String(rule.match.path) } : {}),
      },
      fired,
    }));
  }

  decide(request: FaultRequest): FaultDecision {
    const decision: FaultDecision = { latencyMs: 0, drop: false };
    for (const active of this.rules) {
      if (!this.matches(active, request)) continue;
      const { rule } = active;
      decision.latencyMs += rule.latencyMs ?? 0;
      const hasEffect = rule.status !== undefined || rule.applyThenDrop === true;
      const exhausted = rule.times !== undefined && active.fired >= rule.times;
      if (!hasEffect || exhausted || decision.error || decision.drop) continue;
      if (this.random() >= rule.errorRate) continue;
      active.fired += 1;
      if (rule.status !== undefined) {
        decision.error = {
          status: rule.status,
          ruleId: rule.id,
          ...(rule.retryAfter !== undefined ? { retryAfter: rule.retryAfter } : {}),
        };
      } else {
        decision.drop = true;
      }
    }
    return decision;
  }

  private activate(input: FaultRuleInput): ActiveRule {
    const rule = FaultRuleSchema.parse(input);
    const path = rule.match.path;
    return {
      rule: { ...rule, id: rule.id ?? randomUUID() },
      ...(path === undefined ? {} : { pathPattern: typeof path === 'string' ? compilePathPattern(path) : path }),
      fired: 0,
    };
  }

  private matches(active: ActiveRule, request: FaultRequest): boolean {
    const { match } = active.rule;
    if (match.operationId !== undefined && match.operationId !== request.operationId) return false;
    if (match.method !== undefined && match.method.toUpperCase() !== request.method.toUpperCase()) return false;
    if (active.pathPattern) {
      const relative = request.path.startsWith(API_PREFIX) ? request.path.slice(API_PREFIX.length) : request.path;
      active.pathPattern.lastIndex = 0;
      if (!active.pathPattern.test(relative)) {
        active.pathPattern.lastIndex = 0;
        if (!active.pathPattern.test(request.path)) return false;
      }
    }
    return true;
  }
}
