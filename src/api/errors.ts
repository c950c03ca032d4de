import { z } from 'zod';

/** Every error the API returns: `{ success: false, error: { code, message } }`. */
export const errorResponseSchema = z.object({
  success: z.literal(false),
  error: z.object({ code: z.string(), message: z.string() }),
});

/** A domain error that maps to a 4xx; anything else is a 5xx with its details hidden. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (code: string, message: string) => new HttpError(400, code, message);
export const notFound = (message: string) => new HttpError(404, 'not_found', message);
export const conflict = (message: string) => new HttpError(409, 'conflict', message);

/**
 * Error statuses for a route's `schema.response`, so the OpenAPI document names every status a
 * route can answer. Whichever route answers them, they mean:
 * - 400: a param, query string or body that is not what it should be;
 * - 401: no or wrong credentials;
 * - 403: the client lacks the route's scope, or (simulation mode) the Host is not a loopback name;
 * - 404: the thing named does not exist; 409: an operation on it is already running;
 * - 413, 415: a body too large, or not JSON; 414: a path param too long;
 * - 429: the client's rate limit, or too many failed authentications from its address;
 * - 503: Temporal or Postgres is unreachable (try again).
 */
const e = errorResponseSchema;
/** Every authenticated route. */
export const authErrors = { 401: e, 403: e, 429: e };
/** Routes with a query string or path params. */
export const inputErrors = { 400: e };
/** Routes with path params, which may be longer than the router takes. */
export const paramErrors = { 400: e, 414: e };
/** Routes with a JSON body. */
export const bodyErrors = { 400: e, 413: e, 415: e };
/** Routes that read or start something in Temporal or Postgres. */
export const backendErrors = { 503: e };
/** Public routes: only the Host check (simulation mode) refuses them. */
export const publicErrors = { 403: e };
