/**
 * The OpenAPI 3.1 document of the provider API, generated from the same resource
 * descriptions that parse requests, so the two cannot drift. A test checks real
 * responses against it.
 */
import type { JsonSchema } from '../model/fields.js';
import { ErrorCode } from '../model/errors.js';
import { itemSchema, inputSchema, KIND_NAMES, keyParamNames, kindOf } from '../model/resources.js';
import { natOpenApi } from './nat.js';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const jsonContent = (schema: JsonSchema) => ({ 'application/json': { schema } });
/** "provider address" -> "ProviderAddress". */
const pascal = (singular: string): string => singular.split(' ').map((w) => w[0]!.toUpperCase() + w.slice(1)).join('');

const errorResponses = (...statuses: number[]): Record<string, unknown> =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      {
        description: ERROR_TEXT[s] ?? 'Error',
        ...(s === 401 ? { headers: { 'WWW-Authenticate': { schema: { type: 'string' } } } } : {}),
        ...(s === 503 ? { headers: { 'Retry-After': { schema: { type: 'string' } } } } : {}),
        content: jsonContent(ref('Error')),
      },
    ]),
  );
const ETAG_HEADER = { ETag: { description: 'The state revision after this change (as GET /v1/config reports it)', schema: { type: 'string' } } };

const ERROR_TEXT: Record<number, string> = {
  400: 'Malformed request (bad JSON, undecodable body or URL, key mismatch)',
  401: 'Missing or wrong bearer token / client certificate',
  404: 'No such object (NOT_FOUND), or no such route (NO_SUCH_ROUTE)',
  409: 'Conflicts with the current state (duplicate, VSID in another domain, still referenced)',
  412: 'If-Match does not match the current ETag',
  413: 'Body larger than api.bodyLimit',
  415: 'Body is not application/json',
  422: 'Validation failed (field values, references, on-link rule)',
  501: 'This gateway runs without a data path (DATAPATH_DISABLED)',
  503: 'The state store failed; nothing was changed (STORAGE_FAILED); retry after Retry-After',
};

export function buildOpenApi(version: string): Record<string, unknown> {
  const schemas: Record<string, JsonSchema> = {
    Error: {
      type: 'object',
      additionalProperties: false,
      required: ['code', 'message', 'details'],
      properties: {
        code: { type: 'string', enum: Object.values(ErrorCode) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['path', 'problem'], properties: { path: { type: 'string' }, problem: { type: 'string' } } },
        },
      },
    },
    Deleted: {
      type: 'object',
      additionalProperties: false,
      required: ['deleted'],
      properties: {
        deleted: {
          type: 'array',
          description: 'What was deleted, dependants first (more than one with ?cascade=true)',
          items: { type: 'object', additionalProperties: false, required: ['kind', 'key'], properties: { kind: { type: 'string' }, key: { type: 'string' } } },
        },
      },
    },
  };
  const paths: Record<string, unknown> = {};
  const documentProps: Record<string, JsonSchema> = {};
  const summaryProps: Record<string, JsonSchema> = {};
  const diffProps: Record<string, JsonSchema> = {};

  for (const name of KIND_NAMES) {
    const kind = kindOf(name);
    const typeName = pascal(kind.singular);
    schemas[typeName] = itemSchema(kind);
    schemas[`${typeName}Input`] = inputSchema(kind);
    documentProps[name] = { type: 'array', items: ref(typeName) };
    summaryProps[name] = {
      type: 'object',
      additionalProperties: false,
      required: ['added', 'removed', 'changed'],
      properties: { added: { type: 'integer' }, removed: { type: 'integer' }, changed: { type: 'integer' } },
    };
    diffProps[name] = {
      type: 'object',
      additionalProperties: false,
      required: ['added', 'removed', 'changed'],
      properties: {
        added: { type: 'array', items: ref(typeName) },
        removed: { type: 'array', items: ref(typeName) },
        changed: {
          type: 'array',
          items: { type: 'object', additionalProperties: false, required: ['before', 'after'], properties: { before: ref(typeName), after: ref(typeName) } },
        },
      },
    };

    const filters = Object.keys(kind.fields).map((field) => ({ name: field, in: 'query', required: false, schema: { type: 'string' } }));
    paths[`/v1/${kind.path}`] = {
      get: {
        operationId: `list${typeName}s`,
        summary: `List ${kind.singular}s, optionally filtered by any field`,
        parameters: filters,
        responses: {
          200: {
            description: 'The matching objects',
            content: jsonContent({ type: 'object', additionalProperties: false, required: ['items'], properties: { items: { type: 'array', items: ref(typeName) } } }),
          },
          ...errorResponses(400, 401, 422),
        },
      },
      post: {
        operationId: `create${typeName}`,
        summary: `Create a ${kind.singular}`,
        requestBody: { required: true, content: jsonContent(ref(`${typeName}Input`)) },
        responses: {
          201: { description: 'Created (durable)', headers: { Location: { schema: { type: 'string' } }, ...ETAG_HEADER }, content: jsonContent(ref(typeName)) },
          ...errorResponses(400, 401, 409, 413, 415, 422, 503),
        },
      },
    };
    const params = keyParamNames(kind).map((p) => ({ name: p, in: 'path', required: true, schema: { type: 'string' } }));
    paths[`/v1/${kind.path}/${keyParamNames(kind).map((p) => `{${p}}`).join('/')}`] = {
      parameters: params,
      get: { operationId: `get${typeName}`, summary: `Get one ${kind.singular}`, responses: { 200: { description: 'The object', content: jsonContent(ref(typeName)) }, ...errorResponses(400, 401, 404, 422) } },
      put: {
        operationId: `put${typeName}`,
        summary: `Create or replace one ${kind.singular}; key fields may be left out of the body`,
        requestBody: { required: true, content: jsonContent(ref(`${typeName}Input`)) },
        responses: {
          200: { description: 'Replaced (durable)', headers: ETAG_HEADER, content: jsonContent(ref(typeName)) },
          201: { description: 'Created (durable)', headers: ETAG_HEADER, content: jsonContent(ref(typeName)) },
          ...errorResponses(400, 401, 409, 413, 415, 422, 503),
        },
      },
      delete: {
        operationId: `delete${typeName}`,
        summary: `Delete one ${kind.singular}; 409 while referenced unless ?cascade=true`,
        parameters: [{ name: 'cascade', in: 'query', required: false, schema: { type: 'boolean' } }],
        responses: { 200: { description: 'Deleted (durable)', headers: ETAG_HEADER, content: jsonContent(ref('Deleted')) }, ...errorResponses(400, 401, 404, 409, 422, 503) },
      },
    };
  }

  schemas.ConfigDocument = { type: 'object', additionalProperties: false, required: KIND_NAMES, properties: documentProps };
  schemas.ConfigInput = { type: 'object', additionalProperties: false, description: 'A missing collection is empty', properties: documentProps };
  schemas.PutConfigResult = {
    type: 'object',
    additionalProperties: false,
    required: ['etag', 'applied', 'summary'],
    properties: {
      etag: { type: 'string' },
      applied: { type: 'boolean', description: 'false for a dry run or when nothing changed' },
      summary: { type: 'object', additionalProperties: false, required: KIND_NAMES, properties: summaryProps },
      diff: { type: 'object', additionalProperties: false, required: KIND_NAMES, properties: diffProps },
    },
  };
  const counter = { type: 'object', additionalProperties: false, required: ['packets', 'bytes'], properties: { packets: { type: 'number' }, bytes: { type: 'number' } } };
  schemas.Stats = {
    type: 'object',
    additionalProperties: false,
    required: ['drops', 'events', 'vsids'],
    properties: {
      drops: { type: 'object', additionalProperties: counter },
      events: { type: 'object', additionalProperties: counter },
      vsids: {
        type: 'array',
        items: {
          type: 'object',
          additionalProperties: false,
          required: ['virtualSubnetId', 'decapPackets', 'decapBytes', 'encapPackets', 'encapBytes', 'dropPackets', 'dropBytes'],
          properties: Object.fromEntries(['virtualSubnetId', 'decapPackets', 'decapBytes', 'encapPackets', 'encapBytes', 'dropPackets', 'dropBytes'].map((k) => [k, { type: 'number' }])),
        },
      },
    },
  };
  schemas.TraceResult = {
    type: 'object',
    additionalProperties: false,
    required: ['ingress', 'verdict', 'steps', 'output'],
    properties: {
      ingress: { type: 'string' },
      verdict: { type: 'string', description: 'delivered (to a tenant interface, for the kernel to route), routed (between VSIDs by the data path), encapsulated, answered, no output, or the drop reason' },
      dropReason: { type: 'string' },
      dropDescription: { type: 'string' },
      steps: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['step', 'detail'], properties: { step: { type: 'string' }, detail: { type: 'string' } } } },
      output: { type: 'array', items: { type: 'object', additionalProperties: false, required: ['port', 'hex'], properties: { port: { type: 'string' }, hex: { type: 'string' } } } },
    },
  };
  schemas.Status = {
    type: 'object',
    required: ['version', 'uptimeSeconds', 'etag', 'counts'],
    properties: {
      version: { type: 'string' },
      uptimeSeconds: { type: 'integer' },
      etag: { type: 'string' },
      counts: { type: 'object', required: KIND_NAMES, properties: Object.fromEntries(KIND_NAMES.map((k) => [k, { type: 'integer' }])) },
    },
  };

  paths['/v1/config'] = {
    get: {
      operationId: 'getConfig',
      summary: 'The whole desired state; its ETag is the state revision',
      responses: { 200: { description: 'The desired state', headers: { ETag: { schema: { type: 'string' } } }, content: jsonContent(ref('ConfigDocument')) }, ...errorResponses(401) },
    },
    put: {
      operationId: 'putConfig',
      summary: 'Replace the whole desired state atomically (all or nothing)',
      parameters: [
        { name: 'If-Match', in: 'header', required: false, schema: { type: 'string' } },
        { name: 'dryRun', in: 'query', required: false, schema: { type: 'boolean' }, description: 'Return the diff, change nothing' },
      ],
      requestBody: { required: true, content: jsonContent(ref('ConfigInput')) },
      responses: {
        200: { description: 'Applied (durable), or the dry-run diff', headers: { ETag: { schema: { type: 'string' } } }, content: jsonContent(ref('PutConfigResult')) },
        ...errorResponses(400, 401, 409, 412, 413, 415, 422, 503),
      },
    },
  };
  paths['/v1/stats'] = {
    get: {
      operationId: 'getStats',
      summary: 'Data-path counters: drops by named reason, events, packets and bytes per VSID',
      responses: { 200: { description: 'Counters since the gateway started', content: jsonContent(ref('Stats')) }, ...errorResponses(401, 501) },
    },
  };
  paths['/v1/trace'] = {
    post: {
      operationId: 'tracePacket',
      summary: 'What the data path would do with one packet, step by step (nothing is sent)',
      requestBody: {
        required: true,
        content: jsonContent({
          type: 'object',
          additionalProperties: false,
          properties: {
            ingress: { type: 'string', description: '"fabric" or "vsid:N"', default: 'fabric' },
            hex: { type: 'string', description: 'the whole Ethernet frame in hex' },
            packet: { type: 'string', description: 'key=value description: outerSrc, outerDst, vsid, flowId, innerSrc, innerDst, innerSrcMac, innerDstMac' },
          },
        }),
      },
      responses: { 200: { description: 'The trace', content: jsonContent(ref('TraceResult')) }, ...errorResponses(400, 401, 413, 415, 422) },
    },
  };
  const nat = natOpenApi(errorResponses);
  Object.assign(schemas, nat.schemas);
  Object.assign(paths, nat.paths);
  paths['/v1/status'] = { get: { operationId: 'getStatus', summary: 'Gateway status', responses: { 200: { description: 'Status', content: jsonContent(ref('Status')) }, ...errorResponses(401) } } };
  paths['/v1/openapi.json'] = { get: { operationId: 'getOpenApi', summary: 'This document', responses: { 200: { description: 'OpenAPI 3.1', content: jsonContent({ type: 'object' }) }, ...errorResponses(401) } } };
  paths['/healthz'] = {
    get: {
      operationId: 'getHealth',
      summary: 'Liveness; the only route without authentication',
      security: [],
      responses: { 200: { description: 'Alive', content: jsonContent({ type: 'object', required: ['status'], properties: { status: { const: 'ok' } } }) } },
    },
  };
  paths['/readyz'] = {
    get: {
      operationId: 'getReady',
      summary: 'Readiness',
      responses: {
        200: { description: 'Ready', content: jsonContent({ type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } }) },
        503: { description: 'Not ready yet', content: jsonContent({ type: 'object', required: ['ready'], properties: { ready: { type: 'boolean' } } }) },
        ...errorResponses(401),
      },
    },
  };
  paths['/metrics'] = {
    get: { operationId: 'getMetrics', summary: 'Prometheus metrics', responses: { 200: { description: 'Prometheus text format', content: { 'text/plain': { schema: { type: 'string' } } } }, ...errorResponses(401) } },
  };

  return {
    openapi: '3.1.0',
    info: {
      title: 'nvgw gateway provider API',
      version,
      description: 'Routing domains, virtual subnets, CA/PA lookup records and routes of Hyper-V Network Virtualization (NVGRE), pushed by a controller.',
    },
    servers: [{ url: '/' }],
    security: [{ bearerAuth: [] }, { mutualTLS: [] }],
    components: {
      securitySchemes: { bearerAuth: { type: 'http', scheme: 'bearer' }, mutualTLS: { type: 'mutualTLS' } },
      schemas,
    },
    paths,
  };
}
