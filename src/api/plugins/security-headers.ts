import helmet, { type FastifyHelmetOptions } from '@fastify/helmet';
import Fastify from 'fastify';
import fp from 'fastify-plugin';

const HELMET_OPTIONS: FastifyHelmetOptions = {
  global: true,
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
  },
  // The API is often reached over plain HTTP inside a cluster: never ask browsers to upgrade.
  strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
};

/**
 * The headers helmet adds with HELMET_OPTIONS, read once from a probe app. Registered on the API,
 * @fastify/helmet builds helmet's middleware chain anew for every request (parsing the CSP each
 * time) to write headers that never change; so they are computed here, once, by helmet itself.
 */
async function readHelmetHeaders(): Promise<Record<string, string>> {
  const answer = async (withHelmet: boolean) => {
    const probe = Fastify({ logger: false });
    if (withHelmet) await probe.register(helmet, HELMET_OPTIONS);
    probe.get('/', async () => ({}));
    try {
      return (await probe.inject({ url: '/' })).headers;
    } finally {
      await probe.close();
    }
  };
  const plain = await answer(false);
  const helmeted = await answer(true);
  return Object.fromEntries(
    Object.entries(helmeted).flatMap(([name, value]) =>
      name in plain || value === undefined ? [] : [[name, String(value)]],
    ),
  );
}

let helmetHeaders: Promise<Record<string, string>> | undefined;

/**
 * Security headers on every answer (helmet: nosniff, frame and referrer policies, HSTS, …) and
 * a CSP that lets an API answer load nothing. `/docs` (Swagger UI) and `/` (the dashboard) set
 * CSPs of their own for their pages. Answers are never cached: they carry run ids, token
 * metadata and decrypted payloads, and a shared cache must not keep them.
 */
export const securityHeadersPlugin = fp(async (app) => {
  const headers = { ...(await (helmetHeaders ??= readHelmetHeaders())), 'cache-control': 'no-store' };
  app.addHook('onRequest', (_request, reply, done) => {
    reply.headers(headers);
    done();
  });
});

/** Swagger UI's page: its own scripts and styles (the bundle sets inline styles), the document from this origin. */
export const DOCS_CSP =
  "default-src 'self'; base-uri 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'";
