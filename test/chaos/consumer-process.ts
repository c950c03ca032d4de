import path from 'node:path';
import { RestartableChild } from '../support/processes';
import type { ConsumerFailure } from './checks';
import { consumerEventSchema, type ConsumerConfig, type ConsumerEvent } from './consumer-protocol';

export interface ConsumerStats {
  probes: number;
  accepted: number;
  staleReads: number;
  probeErrors: number;
}

/**
 * Starts the consumer (test/chaos/consumer.ts) as a process of its own; what it reports lands in
 * `failures` and `stats` as it comes.
 */
export function startConsumer(
  config: ConsumerConfig,
  logFile: string,
  home: string,
): { child: RestartableChild; failures: ConsumerFailure[]; stats: () => ConsumerStats } {
  const failures: ConsumerFailure[] = [];
  let stats: ConsumerStats = { probes: 0, accepted: 0, staleReads: 0, probeErrors: 0 };
  const child = new RestartableChild({
    name: 'consumer',
    entry: path.join('test', 'chaos', 'consumer.ts'),
    args: [JSON.stringify(config)],
    logFile,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? home },
    onStdoutLine: (line) => {
      let event: ConsumerEvent;
      try {
        event = consumerEventSchema.parse(JSON.parse(line));
      } catch {
        return;
      }
      if (event.type === 'failure') failures.push(event);
      else
        stats = {
          probes: event.probes,
          accepted: event.accepted,
          staleReads: event.staleReads,
          probeErrors: event.probeErrors,
        };
    },
  });
  child.start();
  return { child, failures, stats: () => stats };
}
