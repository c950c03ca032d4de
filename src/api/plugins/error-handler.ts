import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { HttpError } from '../errors';

function send(reply: import('fastify').FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ success: false, error: { code, message } });
}

/** One mapping from errors to JSON: 4xx say what was wrong, 5xx say nothing internal. */
export const errorHandlerPlugin = fp(async (app) => {
  app.setNotFoundHandler((request, reply) => send(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`));
  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((issue) => {
        const where = [error.validationContext, issue.instancePath.replace(/^\//, '').replace(/\//g, '.')].filter(Boolean).join('.');
        return `${where}: ${issue.message}`;
      });
      return send(reply, 400, 'validation_error', issues.join('; '));
    }
    if (error instanceof HttpError) return send(reply, error.statusCode, error.code, error.message);
    const status = (error as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const code = status === 429 ? 'rate_limited' : status === 415 ? 'unsupported_media_type' : 'bad_request';
      return send(reply, status, code, (error as Error).message);
    }
    request.log.error({ err: error }, 'request failed');
    return send(reply, 500, 'internal_error', 'internal error; see the server log');
  });
});
