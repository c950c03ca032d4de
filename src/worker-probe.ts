import { heartbeatProblem } from './runtime/worker-heartbeat';

/**
 * Liveness, readiness and start-up probe of the worker (an exec probe: the worker serves no
 * HTTP): exit 0 while the worker process keeps touching its heartbeat file, 1 with the reason
 * otherwise.
 */
const problem = heartbeatProblem();
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(1);
}
