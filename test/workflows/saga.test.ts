import { compensationStatus, Saga, type Compensation } from '../../src/workflows/rotation/saga';

/**
 * The rotation's compensations on their own (src/workflows/rotation/saga.ts): plain promises,
 * no Temporal. What an operator reads in a failed run's outcome is what these return.
 */
describe('the rotation saga', () => {
  const logged: Array<{ message: string; attributes: Record<string, unknown> }> = [];
  const log = { error: (message: string, attributes: Record<string, unknown>) => logged.push({ message, attributes }) };
  let ran: string[];
  const ok = (name: string, extra: Partial<Compensation> = {}): Compensation => ({
    name,
    run: async () => void ran.push(name),
    ...extra,
  });
  const failing = (name: string, extra: Partial<Compensation> = {}): Compensation => ({
    name,
    run: async () => {
      ran.push(name);
      throw new Error(`${name} refused`);
    },
    ...extra,
  });

  beforeEach(() => {
    ran = [];
    logged.length = 0;
  });

  it('undoes newest first and reports everything undone', async () => {
    const saga = new Saga(log);
    saga.push(ok('delete new token', { revokesNew: true }));
    saga.push(ok('discard pending secret'));
    saga.push(ok('restore stores', { restoresStores: true }));
    const result = await saga.compensate({ revoked: false });
    expect(ran).toEqual(['restore stores', 'discard pending secret', 'delete new token']);
    expect(result).toEqual({
      undone: ['restore stores', 'discard pending secret', 'delete new token'],
      failed: [],
      keptValid: [],
    });
    expect(compensationStatus(result)).toBe('compensated');
  });

  it('never takes the new credential away once a store could not be given the old one back', async () => {
    const saga = new Saga(log);
    saga.push(ok('delete new token', { revokesNew: true }));
    saga.push(ok('discard pending secret'));
    saga.push(ok('unbind new token', { revokesNew: true }));
    saga.push(failing('restore stores', { restoresStores: true }));
    const result = await saga.compensate({ revoked: false });
    expect(ran).toEqual(['restore stores', 'discard pending secret']);
    expect(result.undone).toEqual(['discard pending secret']);
    expect(result.failed).toEqual([
      { name: 'restore stores', error: { type: 'Error', message: 'restore stores refused' } },
    ]);
    expect(result.keptValid).toEqual(['unbind new token', 'delete new token']);
    expect(compensationStatus(result)).toBe('failed');
    expect(logged.map((l) => l.message)).toEqual([
      'compensation failed',
      'compensation skipped: a store may still hold the new credential',
      'compensation skipped: a store may still hold the new credential',
    ]);
  });

  it('goes on after a compensation that does not touch the stores fails', async () => {
    const saga = new Saga(log);
    saga.push(ok('delete new token', { revokesNew: true }));
    saga.push(failing('discard pending secret'));
    const result = await saga.compensate({ revoked: false });
    expect(ran).toEqual(['discard pending secret', 'delete new token']);
    expect(result.undone).toEqual(['delete new token']);
    expect(result.failed.map((f) => f.name)).toEqual(['discard pending secret']);
    expect(compensationStatus(result)).toBe('failed');
  });

  it('runs the revoked alternative after an emergency revoke', async () => {
    const saga = new Saga(log);
    saga.push(ok('keep previous secret valid', { whenRevoked: ok('expire revoked previous secret') }));
    expect((await saga.compensate({ revoked: true })).undone).toEqual(['expire revoked previous secret']);
    expect(ran).toEqual(['expire revoked previous secret']);
    ran = [];
    expect((await saga.compensate({ revoked: false })).undone).toEqual(['keep previous secret valid']);
    expect(ran).toEqual(['keep previous secret valid']);
  });

  it('reports what was kept valid on purpose, and a run with nothing undone is not compensated', async () => {
    const saga = new Saga(log);
    saga.keepValid('unbind new token', 'delete new token');
    const result = await saga.compensate({ revoked: false });
    expect(result).toEqual({ undone: [], failed: [], keptValid: ['unbind new token', 'delete new token'] });
    expect(compensationStatus(result)).toBe('failed');
    expect(compensationStatus(await new Saga(log).compensate({ revoked: false }))).toBe('failed');
  });
});
