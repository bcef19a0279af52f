/**
 * GET /v1/nat/connections: NAT visibility. Connection counts per routing domain and a bounded
 * listing of one domain's (or every domain's) connections, read from the kernel's connection
 * table when asked. Its OpenAPI part lives here beside the route, merged by openapi.ts.
 */
import type express from 'express';
import type { ConfigService } from '../control/config-service.js';
import { ErrorCode, FieldError, NvgwError, toValidationError } from '../model/errors.js';
import * as F from '../model/fields.js';
import type { JsonSchema } from '../model/fields.js';
import type { NatConnectionsQuery, NatConnectionsResult } from '../nat/conntrack.js';

export type NatConnectionsSource = (query: NatConnectionsQuery) => Promise<NatConnectionsResult>;

export const NAT_CONNECTIONS_PATH = '/v1/nat/connections';
const DEFAULT_LIMIT = 100;
const MAX_LIMIT = 10_000;
const limitType = F.integer(1, MAX_LIMIT);

/** Parses the query: routingDomainId (a GUID of an existing domain) and limit (1..10000, default 100). */
function parseQuery(query: Record<string, unknown>, service: ConfigService): NatConnectionsQuery {
  const errors: FieldError[] = [];
  for (const name of Object.keys(query)) {
    if (name !== 'routingDomainId' && name !== 'limit') errors.push(new FieldError(ErrorCode.ValidationFailed, `?${name}`, 'not a parameter; use routingDomainId and limit'));
  }
  const out: NatConnectionsQuery = { limit: DEFAULT_LIMIT };
  if (query.limit !== undefined) {
    const limit = limitType.parse(query.limit, '?limit');
    if (limit instanceof FieldError) errors.push(limit);
    else out.limit = limit;
  }
  if (query.routingDomainId !== undefined) {
    const rd = F.guid.parse(query.routingDomainId, '?routingDomainId');
    if (rd instanceof FieldError) errors.push(rd);
    else out.routingDomainId = rd;
  }
  if (errors.length > 0) throw toValidationError(errors);
  if (out.routingDomainId !== undefined && service.current.get('routingDomains', out.routingDomainId) === undefined) {
    throw new NvgwError(ErrorCode.NotFound, `routing domain ${out.routingDomainId} does not exist`);
  }
  return out;
}

export function mountNat(app: express.Express, service: ConfigService, source: NatConnectionsSource | undefined): void {
  app.get(NAT_CONNECTIONS_PATH, async (req, res) => {
    const query = parseQuery({ ...(req.query as Record<string, unknown>) }, service);
    if (!source) throw new NvgwError(ErrorCode.DatapathDisabled, 'this gateway runs without a data path (datapath.fabricInterface is empty): it tracks no connections');
    res.json(await source(query));
  });
}

const tuple: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['source', 'destination'],
  properties: Object.fromEntries([
    ['source', { type: 'string' }],
    ['destination', { type: 'string' }],
    ...['sourcePort', 'destinationPort', 'icmpType', 'icmpCode', 'icmpId'].map((k) => [k, { type: 'integer' }]),
  ]),
};

/** The OpenAPI paths and schemas of the NAT endpoints. */
export function natOpenApi(errorResponses: (...statuses: number[]) => Record<string, unknown>): { paths: Record<string, unknown>; schemas: Record<string, JsonSchema> } {
  const domainCount: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['routingDomainId', 'zone', 'mark', 'connections'],
    properties: { routingDomainId: { type: 'string' }, zone: { type: 'integer' }, mark: { type: 'integer' }, connections: { type: 'integer' } },
  };
  const connection: JsonSchema = {
    type: 'object',
    additionalProperties: false,
    required: ['routingDomainId', 'protocol', 'state', 'timeoutSeconds', 'original', 'reply', 'mark', 'zone', 'zoneDirection', 'assured', 'unreplied'],
    properties: {
      routingDomainId: { type: 'string' },
      protocol: { type: 'string' },
      state: { type: 'string' },
      timeoutSeconds: { type: 'integer' },
      original: tuple,
      reply: tuple,
      mark: { type: 'integer' },
      zone: { type: 'integer' },
      zoneDirection: { type: 'string', enum: ['both', 'original', 'reply', 'none'] },
      assured: { type: 'boolean' },
      unreplied: { type: 'boolean' },
    },
  };
  return {
    schemas: {
      NatConnections: {
        type: 'object',
        additionalProperties: false,
        required: ['domains', 'total', 'items', 'truncated'],
        properties: {
          domains: { type: 'array', items: domainCount, description: 'Tracked connections per routing domain, with its conntrack zone and mark' },
          total: { type: 'integer', description: 'Every IPv4 connection the gateway tracks' },
          items: { type: 'array', items: connection },
          truncated: { type: 'boolean', description: 'More connections matched than limit' },
        },
      },
    },
    paths: {
      [NAT_CONNECTIONS_PATH]: {
        get: {
          operationId: 'listNatConnections',
          summary: "Tracked connections (NAT state) per routing domain, and a bounded listing of one domain's or all",
          parameters: [
            { name: 'routingDomainId', in: 'query', required: false, schema: { type: 'string' } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_LIMIT, default: DEFAULT_LIMIT } },
          ],
          responses: {
            200: { description: 'Counts and connections', content: { 'application/json': { schema: { $ref: '#/components/schemas/NatConnections' } } } },
            ...errorResponses(400, 401, 404, 422, 501),
          },
        },
      },
    },
  };
}
