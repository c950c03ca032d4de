import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { readFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Loads an OpenAPI 3.0 document from ../shared at run time and validates whole response
 * bodies against its response schemas with ajv (OpenAPI's `nullable` is an ajv keyword).
 * Nothing is copied out of the document by hand.
 */
export const SHARED_DIR = path.resolve(__dirname, '../../../../shared');

interface OpenApiOperation {
  operationId: string;
  responses: Record<string, { content?: Record<string, { schema?: unknown }>; $ref?: string }>;
  'x-api-token-group'?: string[];
  'x-returns-secret'?: boolean;
}

export interface ContractOperation {
  doc: string;
  method: string;
  template: string;
  operationId: string;
  tokenGroups: string[] | undefined;
  returnsSecret: boolean;
  pattern: RegExp;
  params: number;
  validators: Map<string, ValidateFunction>;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function loadDocument(relative: string): {
  paths: Record<string, Record<string, unknown>>;
  components: Record<string, Record<string, Json>>;
} {
  return JSON.parse(readFileSync(path.join(SHARED_DIR, relative), 'utf8'));
}

/** Rewrites local refs (#/components/…) so they point into the schema registered under `id`. */
function retarget(node: Json, id: string): Json {
  if (Array.isArray(node)) return node.map((n) => retarget(n, id));
  if (node === null || typeof node !== 'object') return node;
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(node)) {
    out[key] =
      key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `${id}${value}` : retarget(value, id);
  }
  return out;
}

export class Contract {
  readonly operations: ContractOperation[] = [];
  private readonly ajv = new Ajv({ strict: false, allErrors: true });

  constructor(documents: Record<string, string>) {
    addFormats(this.ajv);
    for (const [id, relative] of Object.entries(documents)) {
      const doc = loadDocument(relative);
      this.ajv.addSchema(retarget({ components: doc.components } as Json, id) as object, id);
      for (const [template, item] of Object.entries(doc.paths)) {
        for (const [method, raw] of Object.entries(item)) {
          if (method === 'parameters') continue;
          const op = raw as OpenApiOperation;
          const validators = new Map<string, ValidateFunction>();
          for (const [status, response] of Object.entries(op.responses)) {
            const resolved = response.$ref ? this.resolveResponse(doc, response.$ref) : response;
            const schema = resolved.content?.['application/json']?.schema;
            if (schema !== undefined) validators.set(status, this.ajv.compile(retarget(schema as Json, id) as object));
          }
          this.operations.push({
            doc: id,
            method: method.toUpperCase(),
            template,
            operationId: op.operationId,
            tokenGroups: op['x-api-token-group'],
            returnsSecret: op['x-returns-secret'] === true,
            pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
            params: (template.match(/\{/g) ?? []).length,
            validators,
          });
        }
      }
    }
    // Static segments win over parameters (/user/tokens/verify before /user/tokens/{token_id}).
    this.operations.sort((a, b) => a.params - b.params);
  }

  match(method: string, apiPath: string): ContractOperation | undefined {
    return this.operations.find((op) => op.method === method.toUpperCase() && op.pattern.test(apiPath));
  }

  /** ajv errors of `body` against the operation's response for `status` (exact, then 4XX); null when valid. */
  validate(op: ContractOperation, status: number, body: unknown): string | null {
    const validator =
      op.validators.get(String(status)) ?? (status >= 400 && status < 500 ? op.validators.get('4XX') : undefined);
    if (!validator) return `no response schema for ${status}`;
    return validator(body) ? null : this.ajv.errorsText(validator.errors, { separator: '\n' });
  }

  private resolveResponse(
    doc: { components: Record<string, Record<string, Json>> },
    ref: string,
  ): OpenApiOperation['responses'][string] {
    const name = ref.split('/').pop() ?? '';
    return doc.components['responses']?.[name] as OpenApiOperation['responses'][string];
  }
}

export interface RecordedExchange {
  method: string;
  path: string;
  status: number;
  body: unknown;
}

/** A fetch for the SDK that keeps a copy of every response body; the SDK reads the original. */
export function recordingFetch(prefix: string, into: RecordedExchange[]): typeof fetch {
  return async (input, init) => {
    const response = await fetch(input, init);
    const text = await response.clone().text();
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    into.push({
      method: (init?.method ?? 'GET').toUpperCase(),
      path: url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname,
      status: response.status,
      body: text === '' ? undefined : JSON.parse(text),
    });
    return response;
  };
}
