import { z } from 'zod';

/**
 * A fault rule. `match` selects requests (all given fields must match); the rule then adds
 * `latencyMs` to every matching request and, with probability `errorRate`, either answers
 * `status` (429 gets Retry-After: `retryAfter`) before the handler runs, or — with
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
});

export type RateLimitPatch = z.infer<typeof RateLimitPatchSchema>;
