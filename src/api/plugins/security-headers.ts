import helmet from '@fastify/helmet';
import fp from 'fastify-plugin';

/**
 * Security headers on every answer (helmet: nosniff, frame and referrer policies, HSTS, …) and
 * a CSP that lets an API answer load nothing. `/docs` (Swagger UI) and `/` (the dashboard) set
 * CSPs of their own for their pages. Answers are never cached: they carry run ids, token
 * metadata and decrypted payloads, and a shared cache must not keep them.
 */
export const securityHeadersPlugin = fp(async (app) => {
  await app.register(helmet, {
    global: true,
    contentSecurityPolicy: {
      useDefaults: false,
      directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"], baseUri: ["'none'"], formAction: ["'none'"] },
    },
    // The API is often reached over plain HTTP inside a cluster: never ask browsers to upgrade.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: false },
  });
  app.addHook('onRequest', async (_request, reply) => {
    reply.header('cache-control', 'no-store');
  });
});

/** Swagger UI's page: its own scripts and styles (the bundle sets inline styles), the document from this origin. */
export const DOCS_CSP = "default-src 'self'; base-uri 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'";
