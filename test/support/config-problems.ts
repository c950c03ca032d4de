import { ConfigError } from '../../src/config';

/** The problems a ConfigError lists, for a call that must refuse its configuration. */
export function configProblems(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}
