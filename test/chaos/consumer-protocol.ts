import { z } from 'zod';

/** What the engine tells the consumer process (argv[2], JSON). */
export const consumerConfigSchema = z.object({
  probeUrl: z.url(),
  /**
   * Each store a consumer reads. With `verifyUrl` it holds an API token (id and value) that the
   * consumer presents to Cloudflare's verify endpoint; without, an Access service token for the probe app.
   */
  stores: z.array(z.object({ token: z.string(), file: z.string(), verifyUrl: z.url().optional() })).min(1),
  intervalMs: z.number().int().positive(),
  maxRunMs: z.number().int().positive(),
});
export type ConsumerConfig = z.infer<typeof consumerConfigSchema>;

/**
 * What the consumer reports, one JSON object a line. A `rejected` failure: the store held the
 * same credential before and after the app refused it, so the store held a credential Cloudflare
 * does not accept (what invariant 1 forbids). `unreadable`: the store held no complete credential.
 */
export const consumerEventSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('failure'),
    kind: z.enum(['rejected', 'unreadable']),
    token: z.string(),
    file: z.string(),
    at: z.number(),
    status: z.number().nullable(),
    reason: z.string().nullable(),
    fingerprint: z.string().nullable(),
  }),
  z.object({
    type: z.literal('stats'),
    probes: z.number(),
    accepted: z.number(),
    staleReads: z.number(),
    probeErrors: z.number(),
  }),
]);
export type ConsumerEvent = z.infer<typeof consumerEventSchema>;
