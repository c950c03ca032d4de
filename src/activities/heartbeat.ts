import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/** How often a running activity tells Temporal that its worker is alive (the SDK throttles it). */
const HEARTBEAT_EVERY_MS = 2_000;

/**
 * Every activity heartbeats while it runs, so the workflows' `heartbeatTimeout` notices a worker
 * that died under an activity within seconds, instead of at the end of its start-to-close timeout
 * (up to a minute for a store write), and the rotation resumes on a live worker that much
 * sooner. An activity that is slow but alive keeps heartbeating and is left alone; one that ends
 * before the first interval never sends a heartbeat at all.
 */
export const heartbeatWhileRunning: ActivityInterceptorsFactory = (context) => ({
  inbound: {
    async execute(input, next) {
      const timer = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        return await next(input);
      } finally {
        clearInterval(timer);
      }
    },
  },
});
