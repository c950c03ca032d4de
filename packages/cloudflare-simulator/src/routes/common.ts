import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { success, type ResultInfo } from '../envelopes';
import type { OperationRegistry } from '../operations';
import type { SimulatorState } from '../state/state';
import type { ApiTokenRecord } from '../state/types';

/** What every route module gets. */
export interface RouteDeps {
  state: SimulatorState;
  operations: OperationRegistry;
  /** The API token that authenticated this request (set by the pipeline). */
  tokenOf(request: FastifyRequest): ApiTokenRecord;
}

/** Query booleans arrive as "true"/"false". */
export const queryBoolean = z.enum(['true', 'false']).transform((v) => v === 'true');

/** A repeated query parameter arrives as an array, a single one as a string. */
export const queryList = z.union([z.string(), z.array(z.string())]).transform((v) => (Array.isArray(v) ? v : [v]));

export const directionSchema = z.enum(['asc', 'desc']);

export function send<T>(reply: FastifyReply, status: number, result: T, resultInfo?: ResultInfo): FastifyReply {
  return reply.code(status).send(success(result, resultInfo));
}

/** Sorts by a text/date field, ascending unless told otherwise. */
export function sortBy<T>(items: T[], key: (item: T) => string, direction: 'asc' | 'desc' = 'asc'): T[] {
  const sorted = [...items].sort((a, b) => key(a).localeCompare(key(b)));
  return direction === 'desc' ? sorted.reverse() : sorted;
}
