import { z } from 'zod';

/**
 * A fault rule. `match` selects requests (all given fields must match); the rule then adds
 * `latencyMs` to every matching request and, with probability `errorRate`, either answers
 * `status` (429 gets Retry-After: `retryAfter`, default 1, and the limiter's refusal headers;
 * other statuses get Retry-After only when `retryAfter` is set) before the handler runs, or — with
 * `applyThenDrop` — lets the handler apply the change and destroys the socket before any
 * response byte. `times` caps how often the error/drop fires.
 */
export const FaultMatchSchema = z.object({
  operationId: z.string().optional(),
  method: z.string().optional(),
  /** Path relative to /client/v4 (or absolute); `:param`/`{param}` = one segment, `*` within a segment, `**` any. */
  path: z.union([z.string(), z.instanceof(RegExp)]).optional(),
});

export const FaultRuleSchema = z
  .object({
    id: z.string().optional(),
    match: FaultMatchSchema.default({}),
    errorRate: z.number().min(0).max(1).default(1),
    status: z.number().int().min(400).max(599).optional(),
    latencyMs: z.number().min(0).optional(),
    applyThenDrop: z.boolean().optional(),
    retryAfter: z.number().min(0).optional(),
    times: z.number().int().min(1).optional(),
  })
  .refine((r) => !(r.status !== undefined && r.applyThenDrop), {
    message: 'a rule either answers an error status or applies-then-drops, not both',
  });

export type FaultRuleInput = z.input<typeof FaultRuleSchema>;
export type FaultRule = z.output<typeof FaultRuleSchema>;

export const RateLimitPatchSchema = z.object({
  enabled: z.boolean().optional(),
  limit: z.number().int().min(1).optional(),
  windowSeconds: z.number().positive().optional(),
  timeScale: z.number().positive().optional(),
  headers: z.boolean().optional(),
});

export type RateLimitPatch = z.infer<typeof RateLimitPatchSchema>;

/** Whose allowance outside requests spend: a token value's owner, or a key as `sim.rateLimit.keyOf` gives it. */
export const RateLimitTargetSchema = z.union([
  z.strictObject({ tokenValue: z.string().min(1) }),
  z.strictObject({ key: z.string().min(1) }),
]);

export type RateLimitTarget = z.infer<typeof RateLimitTargetSchema>;

/** Body of `POST /__sim/rate-limit/spend`: the target plus how many requests to spend. */
const SpendCount = z.number().int().min(0).max(1_000_000);
export const RateLimitSpendSchema = z.union([
  z.strictObject({ tokenValue: z.string().min(1), n: SpendCount }),
  z.strictObject({ key: z.string().min(1), n: SpendCount }),
]);
