import fp from 'fastify-plugin';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DOCS_CSP } from './security-headers';

const OPTIONAL_BODY = 'x-token-warden-optional-body';

type Transform = Parameters<typeof jsonSchemaTransform>[0];

/**
 * The route's schema as OpenAPI says it: public routes need no credentials (`security: []`),
 * and a body the route accepts absent is not `required` (Swagger's default for any body).
 */
function transform(input: Transform) {
  const result = jsonSchemaTransform(input);
  const body = input.schema.body;
  const optionalBody = body instanceof z.ZodType && body.safeParse(undefined).success;
  const isPublic = Boolean((input.route.config as { public?: boolean } | undefined)?.public);
  return {
    ...result,
    schema: {
      ...result.schema,
      ...(isPublic ? { security: [] } : {}),
      ...(optionalBody ? { [OPTIONAL_BODY]: true } : {}),
    },
  };
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

function markOptionalBodies<T extends object>(document: T): T {
  const paths = 'paths' in document && isRecord(document.paths) ? document.paths : {};
  for (const operations of Object.values(paths)) {
    for (const operation of isRecord(operations) ? Object.values(operations) : []) {
      if (!isRecord(operation) || !operation[OPTIONAL_BODY]) continue;
      delete operation[OPTIONAL_BODY];
      if (isRecord(operation.requestBody)) operation.requestBody.required = false;
    }
  }
  return document;
}

/** OpenAPI generated from the routes' zod schemas, with Swagger UI at /docs. */
export const docsPlugin = fp(async (app) => {
  await app.register(swagger, {
    openapi: {
      info: { title: 'token-warden', description: 'Lifecycle management for Cloudflare credentials', version: '0.1.0' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform,
    transformObject: (documents) =>
      'openapiObject' in documents ? markOptionalBodies(documents.openapiObject) : documents.swaggerObject,
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: DOCS_CSP });
});
