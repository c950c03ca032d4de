import path from 'node:path';
import { z } from 'zod';
import { composeValidate, run } from './validators';

export const COMPOSE_FILE = path.resolve(__dirname, '../../docker-compose.yml');

/** What an operator's .env provides (deploy/compose/env.example names them). */
export const STAND_INS = {
  POSTGRES_PASSWORD: 'stand-in-postgres-password',
  CLOUDFLARE_API_TOKEN: 'stand-in-cloudflare-token',
  CLOUDFLARE_ACCOUNT_ID: 'stand-in-account',
  TOKEN_WARDEN_ENCRYPTION_KEY: 'stand-in-key',
  CLIENT_AUTH_TOKEN: 'stand-in-client-token-of-at-least-32-chars',
};

// Only the parts of compose-go's resolved project these tests read.
const serviceSchema = z.looseObject({
  image: z.string().optional(),
  build: z.looseObject({ context: z.string(), dockerfile: z.string() }).optional(),
  command: z.array(z.string()).nullish(),
  entrypoint: z.array(z.string()).nullish(),
  environment: z.record(z.string(), z.string().nullable()).default({}),
  depends_on: z
    .record(
      z.string(),
      z.looseObject({ condition: z.enum(['service_started', 'service_healthy', 'service_completed_successfully']) }),
    )
    .default({}),
  healthcheck: z.looseObject({ test: z.array(z.string()).optional(), disable: z.boolean().optional() }).optional(),
  ports: z
    .array(z.looseObject({ host_ip: z.string().optional(), target: z.number(), published: z.string().optional() }))
    .default([]),
  volumes: z
    .array(
      z.looseObject({
        type: z.string(),
        source: z.string(),
        target: z.string(),
        read_only: z.boolean().optional(),
        bind: z.looseObject({ create_host_path: z.boolean().optional() }).optional(),
      }),
    )
    .default([]),
  restart: z.string().optional(),
});
export const projectSchema = z.looseObject({ name: z.string(), services: z.record(z.string(), serviceSchema) });
export type Service = z.infer<typeof serviceSchema>;

/** compose-go's view of a compose file, given exactly `env` as the variables (an .env's values). */
export function loadCompose(file: string, env: Record<string, string> = STAND_INS) {
  return run(composeValidate(), [file], env);
}
