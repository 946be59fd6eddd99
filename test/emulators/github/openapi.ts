import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

// Keeps the emulator (and so the bot) honest against GitHub's published OpenAPI description
// (test/fixtures/github-api). Requests are matched to an operation by method and path template and
// checked (path and query parameter types, JSON body); responses are checked against the schema of the
// status code the emulator is about to send. Mismatches become violations, never exceptions, so one bad
// request does not hide the rest of a test's story.

export const GHES_API_PREFIX = '/api/v3';

const SPEC_FILE = fileURLToPath(
  new URL('../../fixtures/github-api/api.github.com.subset.json', import.meta.url),
);

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

export type JsonObject = { [key: string]: unknown };

export interface OpenApiParameter {
  name: string;
  in: 'path' | 'query' | 'header' | 'cookie';
  required?: boolean;
  schema?: JsonObject;
  /** GitHub's marker for a path parameter that may contain slashes (`contents/{path}`, `git/ref/{ref}`). */
  'x-multi-segment'?: boolean;
}

export interface OpenApiMediaType {
  schema?: JsonObject;
}

export interface OpenApiResponse {
  description?: string;
  content?: Record<string, OpenApiMediaType>;
}

export interface OpenApiOperation {
  operationId: string;
  parameters?: OpenApiParameter[];
  requestBody?: { required?: boolean; content?: Record<string, OpenApiMediaType> };
  responses: Record<string, OpenApiResponse>;
}

export interface OpenApiDocument {
  openapi: string;
  info: { version: string; title?: string };
  paths: Record<string, Record<string, unknown>>;
}

export interface Violation {
  method: string;
  path: string;
  operationId?: string;
  where: 'request' | 'response';
  message: string;
}

export interface OperationMatch {
  method: string;
  /** Path template from the description, e.g. `/repos/{owner}/{repo}/pulls/{pull_number}`. */
  template: string;
  operationId: string;
  operation: OpenApiOperation;
  /** Decoded path parameters. */
  params: Record<string, string>;
}

interface Route {
  method: string;
  template: string;
  segments: string[];
  operation: OpenApiOperation;
  /** Path parameters marked `x-multi-segment`. */
  multiSegment: Set<string>;
}

let documentCache: OpenApiDocument | undefined;
let routesCache: Route[] | undefined;

/** The description, parsed once per process (it is 3 MB). */
export function openApiDocument(): OpenApiDocument {
  documentCache ??= JSON.parse(readFileSync(SPEC_FILE, 'utf8')) as OpenApiDocument;
  return documentCache;
}

function routes(): Route[] {
  if (routesCache) return routesCache;
  const out: Route[] = [];
  for (const [template, item] of Object.entries(openApiDocument().paths)) {
    for (const method of HTTP_METHODS) {
      const operation = item[method] as OpenApiOperation | undefined;
      if (!operation?.operationId) continue;
      const multiSegment = new Set(
        (operation.parameters ?? [])
          .filter((p) => p.in === 'path' && p['x-multi-segment'])
          .map((p) => p.name),
      );
      out.push({
        method: method.toUpperCase(),
        template,
        segments: template.split('/').slice(1),
        operation,
        multiSegment,
      });
    }
  }
  routesCache = out;
  return out;
}

function isParam(segment: string): string | undefined {
  const m = /^\{([^}]+)\}$/.exec(segment);
  return m?.[1];
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** `/api/v3/repos/a/b` -> `/repos/a/b`; undefined when the path is not under the GHES API prefix. */
export function stripGhesPrefix(pathname: string): string | undefined {
  if (pathname === GHES_API_PREFIX) return '/';
  if (!pathname.startsWith(`${GHES_API_PREFIX}/`)) return undefined;
  return pathname.slice(GHES_API_PREFIX.length);
}

/**
 * Finds the operation for a method and a raw (still percent-encoded) path without the API prefix.
 * Literal segments win over parameters, so `/issues/comments` is not read as issue number "comments".
 */
export function matchOperation(method: string, rawPath: string): OperationMatch | undefined {
  const upper = method.toUpperCase();
  const segments = rawPath.split('/').slice(1);
  let best: { route: Route; params: Record<string, string>; rank: string } | undefined;
  for (const route of routes()) {
    if (route.method !== upper) continue;
    const matched = matchSegments(route, segments);
    if (!matched) continue;
    if (!best || matched.rank < best.rank) best = { route, ...matched };
  }
  if (!best) return undefined;
  return {
    method: upper,
    template: best.route.template,
    operationId: best.route.operation.operationId,
    operation: best.route.operation,
    params: best.params,
  };
}

// A trailing `x-multi-segment` parameter may span the rest of the path when a client sends literal slashes
// instead of %2F; a trailing `path` may also be left out, which the description of repos/get-content
// documents as the repository's root directory.
function matchSegments(
  route: Route,
  actual: string[],
): { params: Record<string, string>; rank: string } | undefined {
  const template = route.segments;
  const params: Record<string, string> = {};
  let rank = '';
  for (let i = 0; i < template.length; i++) {
    const t = template[i]!;
    const a = actual[i];
    const name = isParam(t);
    const last = i === template.length - 1;
    if (a === undefined) {
      if (!(last && name === 'path' && route.multiSegment.has(name))) return undefined;
      params[name] = '';
      return { params, rank: `${rank}3` };
    }
    if (!name) {
      if (t !== a) return undefined;
      rank += '0';
      continue;
    }
    if (last && actual.length > template.length) {
      if (!route.multiSegment.has(name)) return undefined;
      params[name] = actual.slice(i).map(safeDecode).join('/');
      return { params, rank: `${rank}2` };
    }
    params[name] = safeDecode(a);
    rank += '1';
  }
  if (actual.length !== template.length) return undefined;
  return { params, rank };
}

// ---------------------------------------------------------------------------------------------------------
// OpenAPI 3.0 schema -> JSON Schema (draft-07, what Ajv speaks)

const DROPPED_KEYWORDS = new Set([
  'nullable',
  'example',
  'examples',
  'discriminator',
  'xml',
  'externalDocs',
  'deprecated',
  'readOnly',
  'writeOnly',
]);
const SCHEMA_KEYWORDS = new Set(['items', 'additionalProperties', 'not']);
const SCHEMA_LIST_KEYWORDS = new Set(['allOf', 'anyOf', 'oneOf']);
const SCHEMA_MAP_KEYWORDS = new Set(['properties', 'patternProperties']);

function isObject(x: unknown): x is JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Converts an OpenAPI 3.0 schema object to JSON Schema. `nullable: true` becomes a `null` type (and a
 * `null` enum member: GitHub's description often writes `nullable` next to an `enum` without null).
 * Parameter schemas drop `format`: GitHub documents `created` as a date-time but accepts its search
 * syntax (`>=2024-01-01`), and parameters are checked for their types only.
 */
export interface ConversionOptions {
  dropFormats?: boolean;
  /** Read `oneOf` as `anyOf` (error bodies; see checkResponse). */
  oneOfAsAnyOf?: boolean;
}

export function toJsonSchema(schema: unknown, opts: ConversionOptions = {}): unknown {
  if (!isObject(schema)) return schema;
  let out: JsonObject = {};
  for (const [key, value] of Object.entries(schema)) {
    if (DROPPED_KEYWORDS.has(key) || key.startsWith('x-')) continue;
    if (key === 'format' && opts.dropFormats) continue;
    if (SCHEMA_KEYWORDS.has(key)) out[key] = toJsonSchema(value, opts);
    else if (SCHEMA_LIST_KEYWORDS.has(key) && Array.isArray(value))
      out[key === 'oneOf' && opts.oneOfAsAnyOf ? 'anyOf' : key] = value.map((v) => toJsonSchema(v, opts));
    else if (SCHEMA_MAP_KEYWORDS.has(key) && isObject(value))
      out[key] = Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSchema(v, opts)]));
    else out[key] = value;
  }
  if (schema.nullable === true) {
    if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
    const combined = out.allOf !== undefined || out.anyOf !== undefined || out.oneOf !== undefined;
    if (typeof out.type === 'string' && !combined) out.type = [out.type, 'null'];
    else if (Array.isArray(out.type) && !combined) out.type = [...out.type, 'null'];
    else out = { anyOf: [out, { type: 'null' }] };
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Validation

let ajvInstance: Ajv | undefined;
const validatorCache = new Map<string, ValidateFunction>();

function ajv(): Ajv {
  if (ajvInstance) return ajvInstance;
  // strict: false because the description carries annotations Ajv does not know; logger: false so that
  // nothing is printed for them.
  const instance = new Ajv({ strict: false, allErrors: false, logger: false });
  addFormatsModule.default(instance);
  ajvInstance = instance;
  return instance;
}

/** Unknown formats (OpenAPI's int64, GitHub's repo.nwo, ...) are accepted rather than crashing compile. */
function registerUnknownFormats(schema: unknown): void {
  const a = ajv();
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) {
      for (const v of x) walk(v);
      return;
    }
    if (!isObject(x)) return;
    if (typeof x.format === 'string' && !(x.format in a.formats)) a.addFormat(x.format, true);
    for (const v of Object.values(x)) walk(v);
  };
  walk(schema);
}

function compiled(key: string, schema: unknown, opts: ConversionOptions = {}): ValidateFunction {
  const cached = validatorCache.get(key);
  if (cached) return cached;
  const json = toJsonSchema(schema, opts);
  registerUnknownFormats(json);
  const fn = ajv().compile(json as JsonObject);
  validatorCache.set(key, fn);
  return fn;
}

export function formatAjvErrors(errors: ErrorObject[] | null | undefined, root: string): string {
  if (!errors?.length) return `${root} is invalid`;
  return errors
    .slice(0, 5)
    .map((e) => {
      const at = `${root}${e.instancePath}`;
      const allowed = (e.params as { allowedValues?: unknown }).allowedValues;
      const extra = allowed ? ` ${JSON.stringify(allowed)}` : '';
      return `${at} ${e.message ?? 'is invalid'}${extra}`;
    })
    .join('; ');
}

// Query strings carry text only; a value is accepted if any reading of it (text, number, boolean, list)
// has the documented type.
function queryCandidates(raw: string): unknown[] {
  const out: unknown[] = [raw];
  if (/^-?\d+(\.\d+)?$/.test(raw)) out.push(Number(raw));
  if (raw === 'true' || raw === 'false') out.push(raw === 'true');
  out.push(raw.split(','));
  return out;
}

export interface RequestToCheck {
  query: URLSearchParams;
  /** The parsed JSON body, or undefined when the request had none. */
  body: unknown;
}

export interface RequestProblem {
  kind: 'path' | 'query' | 'body';
  message: string;
}

export function checkRequest(match: OperationMatch, req: RequestToCheck): RequestProblem[] {
  const problems: RequestProblem[] = [];
  const { operation, operationId } = match;
  for (const param of operation.parameters ?? []) {
    if (param.in !== 'path' && param.in !== 'query') continue;
    const raw = param.in === 'path' ? match.params[param.name] : (req.query.get(param.name) ?? undefined);
    if (raw === undefined) {
      if (param.required) {
        problems.push({ kind: param.in, message: `missing required ${param.in} parameter '${param.name}'` });
      }
      continue;
    }
    if (!param.schema) continue;
    const validate = compiled(`${operationId}|param|${param.in}|${param.name}`, param.schema, {
      dropFormats: true,
    });
    if (!queryCandidates(raw).some((c) => validate(c))) {
      problems.push({
        kind: param.in,
        message: `${param.in} parameter '${param.name}'=${JSON.stringify(raw)}: ${formatAjvErrors(validate.errors, param.name)}`,
      });
    }
  }

  const requestBody = operation.requestBody;
  const schema = requestBody?.content?.['application/json']?.schema;
  if (req.body === undefined) {
    if (requestBody?.required) problems.push({ kind: 'body', message: 'request body is required' });
  } else if (!requestBody) {
    const empty = isObject(req.body) && Object.keys(req.body).length === 0;
    if (!empty) problems.push({ kind: 'body', message: 'operation takes no request body' });
  } else if (schema) {
    const validate = compiled(`${operationId}|body`, schema);
    if (!validate(req.body)) {
      problems.push({ kind: 'body', message: formatAjvErrors(validate.errors, 'body') });
    }
  }
  return problems;
}

function responseFor(operation: OpenApiOperation, status: number): OpenApiResponse | undefined {
  const r = operation.responses;
  return r[String(status)] ?? r[`${Math.floor(status / 100)}XX`] ?? r.default;
}

/**
 * Checks a response the emulator is about to send. Undocumented error statuses are accepted (GitHub's
 * description does not list every 401 or 422), undocumented success statuses are not.
 */
export function checkResponse(match: OperationMatch, status: number, body: unknown): string[] {
  const documented = responseFor(match.operation, status);
  if (!documented) return status < 400 ? [`status ${status} is not a documented response`] : [];
  const schema = documented.content?.['application/json']?.schema;
  if (!schema) return [];
  if (body === undefined) return [`status ${status} documents a JSON body but none was sent`];
  // GitHub's error bodies are unions of objects with no required fields (basic-error | rule violation),
  // which any error matches twice, so an error body is read with oneOf as anyOf. Success bodies stay strict.
  const validate = compiled(`${match.operationId}|response|${status}`, schema, {
    oneOfAsAnyOf: status >= 400,
  });
  return validate(body) ? [] : [formatAjvErrors(validate.errors, 'response')];
}

/** Operations of the description, for reports and for checking that every emulated route exists. */
export function listOperations(): { method: string; template: string; operationId: string }[] {
  return routes().map((r) => ({
    method: r.method,
    template: r.template,
    operationId: r.operation.operationId,
  }));
}
