import { propagationTargetSchema, targetLabel } from '../../src/stores';

const label = (target: unknown, accountId?: string) => targetLabel(propagationTargetSchema.parse(target), accountId);
const pair = { clientId: 'CF_ID', clientSecret: 'CF_SECRET' };

/** One name per target for the plan, the stores and the API. */
describe('targetLabel', () => {
  it('names each kind of target by where the credential goes', () => {
    expect(label({ kind: 'file', path: '/etc/app/cf.env', keys: pair })).toBe('file:/etc/app/cf.env');
    expect(
      label({ kind: 'kubernetes', namespace: 'apps', name: 'cf', keys: { clientId: 'id', clientSecret: 's' } }),
    ).toBe('kubernetes:apps/cf');
    expect(
      label({
        kind: 'kubernetes',
        namespace: 'apps',
        name: 'cf',
        context: 'prod',
        keys: { clientId: 'id', clientSecret: 's' },
      }),
    ).toBe('kubernetes:apps/cf@prod');
    expect(label({ kind: 'github', owner: 'acme', repo: 'api', environment: 'prod', names: pair })).toBe(
      'github:acme/api@prod',
    );
    expect(label({ kind: 'github', org: 'acme', names: pair })).toBe('github:org:acme');
  });

  it("puts Cloudflare targets on the token's account unless they name their own", () => {
    expect(label({ kind: 'workers-secret', script: 'api', names: pair }, 'acc1')).toBe('workers-secret:acc1/api');
    expect(label({ kind: 'workers-secret', script: 'api', dispatchNamespace: 'ns', names: pair }, 'acc1')).toBe(
      'workers-secret:acc1/ns/api',
    );
    expect(label({ kind: 'secrets-store', accountId: 'acc2', storeId: 'st', names: pair }, 'acc1')).toBe(
      'secrets-store:acc2/st',
    );
  });
});
