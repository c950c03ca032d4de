import fp from 'fastify-plugin';
import { HttpError } from '../errors';

export interface HostCheckOptions {
  /** Host names (no port) the API answers to; a literal 127.0.0.0/8 address always passes. */
  allowedHosts: readonly string[];
}

/** Loopback names: what a browser on the same machine sends when it really means this API. */
export const LOOPBACK_HOSTS = ['localhost', '127.0.0.1', '::1'];

const normalize = (name: string) => name.trim().toLowerCase().replace(/\.$/, '');

/** The name in a `Host` header: without its port, IPv6 without brackets, lower case, no trailing dot. */
export function hostName(header: string | undefined): string {
  const host = (header ?? '').trim();
  const close = host.indexOf(']');
  return normalize(host.startsWith('[') && close > 0 ? host.slice(1, close) : host.replace(/:\d*$/, ''));
}

/**
 * Refuses a request whose `Host` is not a name this API is served under. Simulation mode serves
 * the codec without credentials on loopback; a DNS-rebinding page (evil.example resolving to
 * 127.0.0.1) reaches that socket from the victim's browser, but with `Host: evil.example`, so it
 * reads nothing.
 */
export const hostCheckPlugin = fp<HostCheckOptions>(async (app, options) => {
  const allowed = new Set(options.allowedHosts.map(normalize));
  app.addHook('onRequest', async (request) => {
    const name = hostName(request.headers.host);
    if (allowed.has(name) || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name)) return;
    throw new HttpError(
      403,
      'host_not_allowed',
      `this API does not answer to Host "${name.slice(0, 100)}"; use 127.0.0.1 or localhost`,
    );
  });
});
