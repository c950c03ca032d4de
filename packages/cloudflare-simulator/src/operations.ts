/**
 * Operation metadata for the API routes: the contract's operationId and what a token
 * needs to call it. The pipeline looks it up by method and route pattern.
 */
export interface RouteAuth {
  /** The resource the operation acts on. */
  scope: 'account' | 'zone' | 'user';
  /** Any one of these permission groups allows the call. Empty: any valid token. */
  groups: readonly string[];
  /** Token-verify endpoints: only this kind of token, and failures answer 401 code 1000. */
  verify?: 'user' | 'account';
}

export interface OperationMeta {
  operationId: string;
  auth: RouteAuth;
}

export class OperationRegistry {
  private readonly byRoute = new Map<string, OperationMeta>();

  /** Records the metadata and returns the url, so a route declaration reads in one place. */
  define(method: string, url: string, meta: OperationMeta): string {
    this.byRoute.set(`${method.toUpperCase()} ${url}`, meta);
    return url;
  }

  lookup(method: string, routeUrl: string | undefined, prefix: string): OperationMeta | undefined {
    if (routeUrl === undefined) return undefined;
    const url = routeUrl.startsWith(prefix) ? routeUrl.slice(prefix.length) : routeUrl;
    // Fastify answers HEAD on every GET route; it is the same operation, with the same auth.
    const verb = method.toUpperCase() === 'HEAD' ? 'GET' : method.toUpperCase();
    return this.byRoute.get(`${verb} ${url}`);
  }

  all(): Array<OperationMeta & { method: string; url: string }> {
    return [...this.byRoute].map(([key, meta]) => {
      const [method = '', url = ''] = key.split(' ');
      return { ...meta, method, url };
    });
  }
}
