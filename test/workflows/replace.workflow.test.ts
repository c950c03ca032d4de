import {
  at,
  expectNoSecretArguments,
  CURRENT_REF,
  fail,
  failureDetails,
  failureTypeOf,
  finished,
  flaky,
  flow,
  inputsOf,
  NEW_CLIENT_ID,
  NEW_FINGERPRINT,
  NEW_TOKEN_ID,
  OLD_TOKEN_ID,
  POLICY,
  recordedStep,
  recordedSteps,
  startHarness,
  waitForPhase,
  type Harness,
  type Run,
} from './rotation-harness';

const DAY = 24 * 60 * 60 * 1000;

/** The compensations a failed replace runs, in order, when every one of them works. */
const FULL_UNDO = ['restore stores', 'unbind new token', 'discard pending secret', 'delete new token'];

/** The stores got the current credential back; the new token left the policies and was deleted. */
function expectUndone(run: Run, issuedRef: string) {
  expect(
    inputsOf(run, 'restoreStore')
      .map((r) => [r.targetIndex, r.ref])
      .sort(),
  ).toEqual([
    [0, CURRENT_REF],
    [1, CURRENT_REF],
  ]);
  expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([{ accountId: expect.any(String), tokenId: NEW_TOKEN_ID }]);
  expect(inputsOf(run, 'discardSecret')).toEqual([{ ref: issuedRef }]);
  expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: NEW_TOKEN_ID })]);
  expect(inputsOf(run, 'promoteSecret')).toEqual([]);
}

/**
 * `rotateServiceToken` with the replace strategy (blue/green): the new token is bound beside the
 * old one before any store sees it, so until retire a failure can take it all back.
 */
describe('rotateServiceToken, replace, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent(
    'binds the new token before propagating, and retires by unbinding then deleting the old one',
    async () => {
      const run = await harness.run({ strategy: 'replace' });

      expect(run.result).toEqual({
        status: 'completed',
        strategy: 'replace',
        tokenId: NEW_TOKEN_ID,
        clientId: NEW_CLIENT_ID,
        fingerprint: NEW_FINGERPRINT,
        recoveredLostSecret: false,
        emergency: false,
      });
      expect(flow(run)).toEqual([
        'resolveServiceToken',
        'createReplacementToken',
        'bindTokenToPolicies',
        'propagateToStore',
        'verifyStore',
        'unbindTokenFromPolicies',
        'deleteServiceToken',
        'promoteSecret',
      ]);
      expect(recordedSteps(run)).toEqual([
        'resolve:ok',
        'issue:ok',
        'bind:ok',
        'propagate:ok',
        'verify:ok',
        'wait:ok',
        'retire:ok',
        'finish:ok',
      ]);

      const [create] = inputsOf(run, 'createReplacementToken');
      expect(create).toMatchObject({ oldTokenId: OLD_TOKEN_ID, duration: '8760h' });
      // A lost create is recognised by tokens of this name created after `notBefore`: shortly before the run.
      expect(at(create!.notBefore)).toBeLessThanOrEqual(run.startedAt);
      expect(at(create!.notBefore)).toBeGreaterThanOrEqual(run.startedAt - 2 * 60_000);
      expect(inputsOf(run, 'bindTokenToPolicies')).toEqual([
        { accountId: expect.any(String), besideTokenId: OLD_TOKEN_ID, newTokenId: NEW_TOKEN_ID },
      ]);
      expect(inputsOf(run, 'propagateToStore').every((p) => p.ref === create!.ref)).toBe(true);
      expect(inputsOf(run, 'probeCredential')).toEqual([
        expect.objectContaining({ ref: create!.ref, expect: 'accepted' }),
      ]);
      expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([
        { accountId: expect.any(String), tokenId: OLD_TOKEN_ID },
      ]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(inputsOf(run, 'setPreviousSecretExpiry')).toEqual([]);
      expect(recordedStep(run, 'bind')?.details).toEqual({ policies: [POLICY] });
      expect(recordedStep(run, 'retire')?.details).toEqual({ deletedTokenId: OLD_TOKEN_ID, policies: [POLICY] });
      expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref: create!.ref }]);
      expect(finished(run)).toMatchObject({
        status: 'completed',
        outcome: { strategy: 'replace', tokenId: NEW_TOKEN_ID },
      });
      expectNoSecretArguments(run);
    },
  );

  it.concurrent('replaces a zone-scoped token even when the inventory asks for rotate-secret', async () => {
    const run = await harness.run({ strategy: 'rotate-secret', plan: { zoneScoped: true } });

    expect(run.result?.strategy).toBe('replace');
    expect(inputsOf(run, 'issueRotatedSecret')).toEqual([]);
    expect(inputsOf(run, 'recordRotationStart')).toEqual([expect.objectContaining({ strategy: 'replace' })]);
  });

  it.concurrent('records a failed run and creates nothing when resolve fails', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: {
        resolveServiceToken: fail(
          'CloudflareUnavailable',
          'list service tokens named ci-api: connection to Cloudflare failed',
        ),
      },
    });

    expect(flow(run)).toEqual(['resolveServiceToken']);
    expect(recordedSteps(run)).toEqual(['resolve:failed', 'compensate:skipped']);
    expect(finished(run)).toMatchObject({ status: 'failed', outcome: { compensated: [] } });
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('records a failed run and deletes nothing when the create call fails', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: { createReplacementToken: fail('CloudflareRejected', 'create service token ci-api: HTTP 400') },
    });

    expect(flow(run)).toEqual(['resolveServiceToken', 'createReplacementToken']);
    expect(recordedSteps(run)).toEqual(['resolve:ok', 'issue:failed', 'compensate:skipped']);
    expect(inputsOf(run, 'deleteServiceToken')).toEqual([]);
    expect(finished(run).status).toBe('failed');
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('unbinds and deletes the new token when binding it fails part-way', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: { bindTokenToPolicies: fail('CloudflareRejected', 'bind service token to Access policies: HTTP 403') },
    });

    const ref = inputsOf(run, 'createReplacementToken')[0]!.ref;
    expect(flow(run)).toEqual([
      'resolveServiceToken',
      'createReplacementToken',
      'bindTokenToPolicies',
      'unbindTokenFromPolicies',
      'discardSecret',
      'deleteServiceToken',
    ]);
    expect(recordedSteps(run)).toEqual(['resolve:ok', 'issue:ok', 'bind:failed', 'compensate:compensated']);
    // The bind may have reached some policies before it failed: they are cleaned before the delete.
    expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([
      { accountId: expect.any(String), tokenId: NEW_TOKEN_ID },
    ]);
    expect(inputsOf(run, 'discardSecret')).toEqual([{ ref }]);
    expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: NEW_TOKEN_ID })]);
    expect(inputsOf(run, 'propagateToStore')).toEqual([]);
    expect(inputsOf(run, 'restoreStore')).toEqual([]);
    expect(failureTypeOf(run)).toBe('RotationCompensated');
    expect(finished(run)).toMatchObject({
      status: 'compensated',
      outcome: {
        error: { type: 'CloudflareRejected' },
        compensated: ['unbind new token', 'discard pending secret', 'delete new token'],
        failedCompensations: [],
      },
    });
  });

  const WRITE_FAILS = ['resolve:ok', 'issue:ok', 'bind:ok', 'propagate:failed', 'compensate:compensated'];
  const VERIFY_FAILS = ['resolve:ok', 'issue:ok', 'bind:ok', 'propagate:ok', 'verify:failed', 'compensate:compensated'];
  it.concurrent.each([
    [
      'a store write',
      { propagateToStore: fail('StoreWriteFailed', 'kubernetes:apps/ci-api-access: HTTP 403') },
      WRITE_FAILS,
      'StoreWriteFailed',
    ],
    [
      'a store read-back',
      { verifyStore: fail('StoreNotUpdated', 'file:/etc/app/cf.env does not show the new credential') },
      VERIFY_FAILS,
      'StoreNotUpdated',
    ],
    [
      'the probe',
      { probeCredential: fail('ProbeRejected', 'probe answered 403, expected the credential to be accepted') },
      VERIFY_FAILS,
      'ProbeRejected',
    ],
  ] as const)(
    'restores every store to the current credential and removes the new token when %s fails',
    async (_what, stubs, steps, type) => {
      const run = await harness.run({ strategy: 'replace', stubs });

      const ref = inputsOf(run, 'createReplacementToken')[0]!.ref;
      // replace does not retry propagation rounds: the whole change is undone at once.
      expect(recordedSteps(run)).toEqual(steps);
      expect(flow(run).slice(-4)).toEqual([
        'restoreStore',
        'unbindTokenFromPolicies',
        'discardSecret',
        'deleteServiceToken',
      ]);
      expectUndone(run, ref);
      expect(inputsOf(run, 'setPreviousSecretExpiry')).toEqual([]);
      expect(failureTypeOf(run)).toBe('RotationCompensated');
      expect(failureDetails(run)).toMatchObject({ error: { type }, compensated: FULL_UNDO });
      expect(finished(run)).toMatchObject({
        status: 'compensated',
        outcome: { error: { type }, compensated: FULL_UNDO, failedCompensations: [] },
      });
      expect(recordedStep(run, 'compensate')?.details).toMatchObject({ compensated: FULL_UNDO });
    },
  );

  it.concurrent('logs a failed compensation and still runs the next ones', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: {
        verifyStore: fail('StoreNotUpdated'),
        unbindTokenFromPolicies: fail('CloudflareRejected', 'unbind service token from Access policies: HTTP 403'),
      },
    });

    expect(flow(run).slice(-4)).toEqual([
      'restoreStore',
      'unbindTokenFromPolicies',
      'discardSecret',
      'deleteServiceToken',
    ]);
    const failedLog = run.logs.find((l) => l.level === 'ERROR' && l.message === 'compensation failed');
    expect(failedLog?.attrs).toMatchObject({ step: 'unbind new token', error: { type: 'CloudflareRejected' } });
    // Not fully undone: the record says which compensation failed, and the run is not "compensated".
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: {
        error: { type: 'StoreNotUpdated' },
        compensated: ['restore stores', 'discard pending secret', 'delete new token'],
        failedCompensations: [{ name: 'unbind new token', error: { type: 'CloudflareRejected' } }],
      },
    });
    expect(recordedSteps(run).at(-1)).toBe('compensate:failed');
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('keeps the new token valid when a store cannot be given the current credential back', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: {
        probeCredential: fail('ProbeRejected'),
        restoreStore: async (i) =>
          i.targetIndex === 1 ? fail('StoreRestoreFailed', 'workers-secret:api: HTTP 500')() : undefined,
      },
    });

    // One store may still hold the new credential: unbinding or deleting it would cut that store's consumers off.
    expect(inputsOf(run, 'restoreStore')).toHaveLength(2);
    expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([]);
    expect(inputsOf(run, 'deleteServiceToken')).toEqual([]);
    expect(
      run.logs.filter((l) => l.level === 'ERROR' && l.message === 'compensation failed').map((l) => l.attrs.step),
    ).toEqual(['restore stores']);
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: {
        compensated: ['discard pending secret'],
        failedCompensations: [{ name: 'restore stores', error: { type: 'StoreRestoreFailed' } }],
        keptValid: ['unbind new token', 'delete new token'],
      },
    });
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('leaves both tokens valid, deleting nothing, when no current credential is on record', async () => {
    const run = await harness.run({
      strategy: 'replace',
      plan: { currentRef: null, currentFingerprint: null },
      stubs: { verifyStore: fail('StoreNotUpdated') },
    });

    expect(flow(run)).toEqual([
      'resolveServiceToken',
      'createReplacementToken',
      'bindTokenToPolicies',
      'propagateToStore',
      'verifyStore',
    ]);
    expect(inputsOf(run, 'deleteServiceToken')).toEqual([]);
    expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([]);
    expect(inputsOf(run, 'restoreStore')).toEqual([]);
    expect(run.logs.some((l) => l.level === 'WARN' && /no current credential on record/.test(l.message))).toBe(true);
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: { error: { type: 'StoreNotUpdated' }, compensated: [] },
    });
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('undoes a replace that an operator cancels while a store write hangs', async () => {
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let writeEnded = 0;
    let firstRestore = 0;
    const run = await harness.run({
      strategy: 'replace',
      stubs: {
        propagateToStore: async (i) => {
          if (i.targetIndex === 1) {
            await released;
            writeEnded = Date.now();
          }
          return {
            store: `t${i.targetIndex}`,
            fingerprint: NEW_FINGERPRINT,
            changed: true,
            expected: { evidence: 'fingerprint', fingerprint: NEW_FINGERPRINT },
          };
        },
        restoreStore: async () => {
          firstRestore ||= Date.now();
        },
      },
      during: async (handle) => {
        await waitForPhase(handle, 'propagate');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await handle.cancel();
        setTimeout(release, 2_000);
      },
    });

    const ref = inputsOf(run, 'createReplacementToken')[0]!.ref;
    expectUndone(run, ref);
    // The write in flight ended before any store was given the old credential back: none lands after.
    expect(writeEnded).toBeGreaterThan(0);
    expect(firstRestore).toBeGreaterThanOrEqual(writeEnded);
    expect(finished(run)).toMatchObject({ status: 'compensated', outcome: { compensated: FULL_UNDO } });
  });

  it.concurrent('retries a failing delete at retire forward, after the old token left the policies', async () => {
    const run = await harness.run({
      strategy: 'replace',
      stubs: { deleteServiceToken: flaky(1, async () => undefined) },
    });

    expect(run.result?.status).toBe('completed');
    expect(
      run.calls
        .filter((c) => c.name === 'deleteServiceToken')
        .map((c) => [c.attempt, (c.input as { tokenId: string }).tokenId]),
    ).toEqual([
      [1, OLD_TOKEN_ID],
      [2, OLD_TOKEN_ID],
    ]);
    expect(flow(run)).toEqual([
      'resolveServiceToken',
      'createReplacementToken',
      'bindTokenToPolicies',
      'propagateToStore',
      'verifyStore',
      'unbindTokenFromPolicies',
      'deleteServiceToken',
      'promoteSecret',
    ]);
    expect(finished(run).status).toBe('completed');
  });

  describe('after a rotate whose answer was lost', () => {
    const lost = {
      issueRotatedSecret: fail(
        'RotatedSecretLost',
        'service token ci-api was rotated to version 4 but its new secret never reached token-warden',
      ),
    };

    it.concurrent('keeps the previous secret alive and finishes blue/green', async () => {
      const run = await harness.run({ strategy: 'rotate-secret', stubs: lost });

      expect(run.result).toMatchObject({
        status: 'completed',
        strategy: 'replace',
        tokenId: NEW_TOKEN_ID,
        recoveredLostSecret: true,
      });
      expect(flow(run)).toEqual([
        'resolveServiceToken',
        'issueRotatedSecret',
        'setPreviousSecretExpiry',
        'createReplacementToken',
        'bindTokenToPolicies',
        'propagateToStore',
        'verifyStore',
        'unbindTokenFromPolicies',
        'deleteServiceToken',
        'promoteSecret',
      ]);
      expect(recordedSteps(run)).toEqual([
        'resolve:ok',
        'issue:failed',
        'extend previous secret:ok',
        'issue:ok',
        'bind:ok',
        'propagate:ok',
        'verify:ok',
        'wait:ok',
        'retire:ok',
        'finish:ok',
      ]);
      expect(recordedStep(run, 'issue')?.details).toMatchObject({ type: 'RotatedSecretLost' });
      const [extend] = inputsOf(run, 'setPreviousSecretExpiry');
      expect(extend?.tokenId).toBe(OLD_TOKEN_ID);
      expect(at(extend!.expiresAt)).toBeGreaterThanOrEqual(run.startedAt + DAY - 1000);
      expect(inputsOf(run, 'bindTokenToPolicies')).toEqual([
        expect.objectContaining({ besideTokenId: OLD_TOKEN_ID, newTokenId: NEW_TOKEN_ID }),
      ]);
      expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(finished(run)).toMatchObject({
        status: 'completed',
        outcome: { recoveredLostSecret: true, strategy: 'replace' },
      });
      // The run says what it turned into, for the Temporal UI and the progress query.
      const described = await run.handle.describe();
      expect(described.searchAttributes.RotationStrategy).toEqual(['replace']);
    });

    it.concurrent(
      'takes the replacement back and keeps the stores on the previous secret when it cannot be verified',
      async () => {
        const run = await harness.run({
          strategy: 'rotate-secret',
          stubs: { ...lost, verifyStore: fail('StoreNotUpdated') },
        });

        const ref = inputsOf(run, 'createReplacementToken')[0]!.ref;
        expectUndone(run, ref);
        // The previous secret was pushed out once and is never retired by a failed run.
        expect(inputsOf(run, 'setPreviousSecretExpiry')).toHaveLength(1);
        expect(finished(run)).toMatchObject({ status: 'compensated', outcome: { compensated: FULL_UNDO } });
        expect(failureTypeOf(run)).toBe('RotationCompensated');
      },
    );
  });
});
