import { readFileSync } from 'node:fs';
import path from 'node:path';
import Ajv, { type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/** The shared contract documents live beside the repository: ../shared/. */
export function sharedDocument(relative: string): string {
  return path.resolve(__dirname, '../../../shared', relative);
}

type Json = unknown;

/**
 * Validates bodies against one OpenAPI 3.0 document with ajv. The document is added whole under
 * its own id, so every `#/components/...` reference inside it resolves as written; OpenAPI's
 * `nullable` is rewritten into JSON Schema first, since ajv only honours it beside a `type`.
 */
export class OpenApiContract {
  private readonly ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false });
  private readonly document: Record<string, Json>;
  private readonly id: string;
  private readonly compiled = new Map<string, ValidateFunction>();

  constructor(file: string) {
    this.id = path.basename(file);
    const document = rewriteNullable(JSON.parse(readFileSync(file, 'utf8')));
    if (!isRecord(document)) throw new Error(`${file} is not an OpenAPI document`);
    this.document = document;
    addFormats(this.ajv);
    this.ajv.addSchema(this.document, this.id);
  }

  /** Problems with a request body for `method pathTemplate` (pathTemplate as the document spells it). */
  requestProblems(method: string, pathTemplate: string, body: Json, contentType = 'application/json'): string[] {
    const operation = this.operation(method, pathTemplate);
    const requestBody = this.deref([...operation, 'requestBody']);
    if (requestBody.node === undefined) return body === undefined ? [] : ['the operation takes no request body'];
    const media = this.media(requestBody.pointer, contentType);
    if (media === undefined) return [`no request content type matches ${contentType}`];
    return this.validate([...media, 'schema'], body, `${method.toUpperCase()} ${pathTemplate} request`);
  }

  /** Problems with a response: the status must be declared, and the body must match its schema. */
  responseProblems(method: string, pathTemplate: string, status: number, body: Json): string[] {
    const operation = this.operation(method, pathTemplate);
    const responses = this.resolve([...operation, 'responses']);
    const key = [String(status), `${String(status)[0]}XX`, 'default'].find(
      (candidate) => isRecord(responses) && candidate in responses,
    );
    const where = `${method.toUpperCase()} ${pathTemplate} ${status}`;
    if (key === undefined) return [`${where}: status not declared`];
    const response = this.deref([...operation, 'responses', key]);
    const media = this.media(response.pointer, 'application/json');
    if (media === undefined) return body === undefined ? [] : [`${where}: declares no body`];
    return this.validate([...media, 'schema'], body, where);
  }

  private operation(method: string, pathTemplate: string): string[] {
    const pointer = ['paths', pathTemplate, method.toLowerCase()];
    if (this.resolve(pointer) === undefined) throw new Error(`${this.id}: no operation ${method} ${pathTemplate}`);
    return pointer;
  }

  private media(pointer: string[], contentType: string): string[] | undefined {
    const content = this.resolve([...pointer, 'content']);
    if (!isRecord(content)) return undefined;
    const base = contentType.split(';')[0]?.trim() ?? '';
    const key = [base, '*/*', 'application/json'].find((candidate) => candidate in content);
    return key === undefined ? undefined : [...pointer, 'content', key];
  }

  private validate(pointer: string[], body: Json, where: string): string[] {
    const ref = `${this.id}#/${pointer.map((segment) => encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')}`;
    let validate = this.compiled.get(ref);
    if (validate === undefined) {
      validate = this.ajv.compile({ $ref: ref });
      this.compiled.set(ref, validate);
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (error) => `${where}: ${error.instancePath || '(body)'} ${error.message ?? 'is invalid'}`,
    );
  }

  /** Follows `$ref`s of non-schema objects (responses, request bodies) to where they point. */
  private deref(pointer: string[]): { node: Json; pointer: string[] } {
    let current = pointer;
    let node = this.resolve(current);
    while (isRecord(node) && typeof node.$ref === 'string' && node.$ref.startsWith('#/')) {
      current = node.$ref
        .slice(2)
        .split('/')
        .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
      node = this.resolve(current);
    }
    return { node, pointer: current };
  }

  private resolve(pointer: string[]): Json {
    let node: Json = this.document;
    for (const segment of pointer) {
      if (!isRecord(node)) return undefined;
      node = node[segment];
    }
    return node;
  }
}

function rewriteNullable(node: Json): Json {
  if (Array.isArray(node)) return node.map(rewriteNullable);
  if (!isRecord(node)) return node;
  const { nullable, ...rest } = Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, rewriteNullable(value)]),
  );
  return nullable === true ? { anyOf: [rest, { type: 'null' }] } : rest;
}

function isRecord(value: unknown): value is Record<string, Json> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
