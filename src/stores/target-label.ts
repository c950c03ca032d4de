import path from 'node:path';
import { githubScopeLabel, githubScopeOf } from './github-scope';
import type { PropagationTarget } from './store-types';

/**
 * The one name of a propagation target, used alike by the rotation plan, the store's receipts
 * and errors, and the API: e.g. "file:/etc/app/cf.env", "github:acme/api@prod",
 * "workers-secret:<account>/demo-worker". Never a secret. `accountId` is the service token's
 * account, where Cloudflare targets without an account of their own write.
 */
export function targetLabel(target: PropagationTarget, accountId: string | undefined): string {
  switch (target.kind) {
    case 'file':
      return `file:${path.resolve(target.path)}`;
    case 'kubernetes':
      return `kubernetes:${target.namespace}/${target.name}${target.context === undefined ? '' : `@${target.context}`}`;
    case 'github': {
      const scope = githubScopeOf(target);
      return 'problem' in scope ? 'github' : githubScopeLabel(scope);
    }
    case 'workers-secret': {
      const where =
        target.dispatchNamespace === undefined ? target.script : `${target.dispatchNamespace}/${target.script}`;
      return `workers-secret:${target.accountId ?? accountId ?? '?'}/${where}`;
    }
    case 'secrets-store':
      return `secrets-store:${target.accountId ?? accountId ?? '?'}/${target.storeId}`;
  }
}
