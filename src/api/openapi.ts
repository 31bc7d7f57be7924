/**
 * The OpenAPI 3.1 document, generated from the route descriptions and their
 * zod schemas: what the document promises is what the code validates.
 */
import { z } from 'zod';
import { ERRORS, type ErrorCode } from '../errors.js';
import type { ApiRoute } from './route.js';
import { COMPONENT_SCHEMAS } from './schemas.js';

type JsonSchema = Record<string, unknown>;
export interface OpenApiDocument {
  openapi: string;
  info: Record<string, unknown>;
  paths: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

const SCHEMA_REF = '#/components/schemas/';
const SECURITY_SCHEME = 'apiToken';

/** Codes any operation may answer with, by the kind of operation. */
function commonErrors(route: ApiRoute): ErrorCode[] {
  const codes: ErrorCode[] = [];
  if (!route.public) codes.push('UNAUTHORIZED');
  if (route.params || route.query || route.body) codes.push('INVALID_REQUEST');
  if (route.body) codes.push('MALFORMED_BODY', 'BODY_TOO_LARGE');
  codes.push('STORAGE_UNAVAILABLE');
  return codes;
}

const FORMATS_WITHOUT_PATTERN = new Set(['date-time', 'ipv4', 'ipv6']);

/** Drops what zod adds that says nothing to a reader: safe-integer bounds, and regexes where the format says it. */
function tidy(ctx: { jsonSchema: JsonSchema }): void {
  const schema = ctx.jsonSchema;
  if (schema.maximum === Number.MAX_SAFE_INTEGER) delete schema.maximum;
  if (schema.minimum === Number.MIN_SAFE_INTEGER) delete schema.minimum;
  if (typeof schema.format === 'string' && FORMATS_WITHOUT_PATTERN.has(schema.format))
    delete schema.pattern;
}

function withDescriptions(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  tidy(ctx);
  // Field descriptions live in zod's global registry (`.describe()`); the component registry only names schemas.
  const description = z.globalRegistry.get(ctx.zodSchema as z.ZodType)?.description;
  if (description !== undefined && ctx.jsonSchema.description === undefined)
    ctx.jsonSchema.description = description;
}

function strip(schema: JsonSchema): JsonSchema {
  const { $schema: _schema, $id: _id, ...rest } = schema;
  return rest;
}

function componentSchemas(): {
  schemas: Record<string, JsonSchema>;
  names: Map<z.ZodType, string>;
} {
  const registry = z.registry<{ id: string }>();
  const names = new Map<z.ZodType, string>();
  for (const [name, schema] of Object.entries(COMPONENT_SCHEMAS)) {
    registry.add(schema, { id: name });
    names.set(schema, name);
  }
  const converted = z.toJSONSchema(registry, {
    uri: (id) => `${SCHEMA_REF}${id}`,
    override: withDescriptions,
  });
  const schemas = Object.fromEntries(
    Object.entries(converted.schemas).map(([name, schema]) => [name, strip(schema as JsonSchema)]),
  );
  return { schemas, names };
}

function parameters(route: ApiRoute): JsonSchema[] {
  const result: JsonSchema[] = [];
  for (const [where, object] of [
    ['path', route.params],
    ['query', route.query],
  ] as const) {
    if (!object) continue;
    const required = new Set(z.toJSONSchema(object, { io: 'input' }).required ?? []);
    for (const [name, field] of Object.entries(object.shape)) {
      const schema = strip(z.toJSONSchema(field, { io: 'input', override: tidy }) as JsonSchema);
      const { description, ...rest } = schema;
      result.push({
        name,
        in: where,
        required: where === 'path' || required.has(name),
        description,
        schema: rest,
      });
    }
  }
  return result;
}

function errorResponses(route: ApiRoute): Record<string, JsonSchema> {
  const byStatus = new Map<number, ErrorCode[]>();
  for (const code of [...commonErrors(route), ...route.errors]) {
    const status = ERRORS[code].status;
    byStatus.set(status, [...(byStatus.get(status) ?? []), code]);
  }
  const responses: Record<string, JsonSchema> = {};
  for (const [status, codes] of [...byStatus].sort(([a], [b]) => a - b)) {
    const headers: Record<string, JsonSchema> = {};
    if (codes.includes('UNAUTHORIZED')) {
      headers['WWW-Authenticate'] = {
        description: 'Bearer challenge (RFC 6750).',
        schema: { type: 'string' },
      };
    }
    if (codes.includes('TOO_MANY_ATTEMPTS')) {
      headers['Retry-After'] = {
        description: 'Seconds until the limit window ends.',
        schema: { type: 'integer' },
      };
    }
    responses[String(status)] = {
      description: codes.map((code) => `${code}: ${ERRORS[code].message}`).join('. '),
      ...(Object.keys(headers).length > 0 ? { headers } : {}),
      content: { 'application/json': { schema: { $ref: `${SCHEMA_REF}Error` } } },
    };
  }
  return responses;
}

/** The document for `routes`, served from `serverUrl` (the API base URL). */
export function buildOpenApiDocument(
  routes: readonly ApiRoute[],
  serverUrl: string,
): OpenApiDocument {
  const { schemas, names } = componentSchemas();
  const ref = (schema: z.ZodType, route: ApiRoute) => {
    const name = names.get(schema);
    if (!name)
      throw new Error(`${route.operationId}: its schemas must be listed in COMPONENT_SCHEMAS`);
    return { $ref: `${SCHEMA_REF}${name}` };
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const operation = {
      operationId: route.operationId,
      summary: route.summary,
      description: route.description,
      ...(route.public ? { security: [] } : {}),
      parameters: parameters(route),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              content: { 'application/json': { schema: ref(route.body, route) } },
            },
          }
        : {}),
      responses: {
        '200': {
          description: route.response.description,
          content: { 'application/json': { schema: ref(route.response.schema, route) } },
        },
        ...errorResponses(route),
      },
    };
    paths[route.path] = { ...paths[route.path], [route.method.toLowerCase()]: operation };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'crm-bridge API',
      version: '1',
      description:
        'Users created by crm-bridge, for the site that uses it. Every operation but this document needs an API token.',
    },
    servers: [{ url: serverUrl }],
    security: [{ [SECURITY_SCHEME]: [] }],
    paths,
    components: {
      schemas,
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          description:
            'A token from `crm-bridge api-tokens create`, sent as `Authorization: Bearer cb_…`.',
        },
      },
    },
  };
}
