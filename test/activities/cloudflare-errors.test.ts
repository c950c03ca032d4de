import { DatabaseError } from 'pg';
import { toActivityFailure } from '../../src/activities/cloudflare-errors';

describe('activity failures on the way to Cloudflare', () => {
  it("names a Postgres failure (the policy lock's timeout) as the database's, retryable, with its SQLSTATE", () => {
    const timeout = new DatabaseError('canceling statement due to lock timeout', 0, 'error');
    timeout.code = '55P03';
    const failure = toActivityFailure(timeout, 'unbind service token from Access policies');
    expect(failure).toMatchObject({ type: 'DatabaseUnavailable', nonRetryable: false });
    expect(failure.message).toBe(
      'unbind service token from Access policies: Postgres 55P03 canceling statement due to lock timeout',
    );
  });
});
