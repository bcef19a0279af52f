/**
 * The client's picture of the API against the gateway's own OpenAPI document and
 * behaviour: field lists and JSON types of every component schema, required inputs, key
 * path parameters, error codes, the defaults the gateway fills and the canonical
 * spellings it stores. A gateway change that breaks the client fails here first.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { INTERFACE_NAME, parseGuid, parseIpAddress, parseIpPrefix, parseMac, VSID_MAX, VSID_MIN } from '../src/client/canonical.js';
import type { NvgwClient } from '../src/client/client.js';
import { API_ERROR_CODES } from '../src/client/errors.js';
import type { FieldInfo, KindName } from '../src/client/types.js';
import { KIND_NAMES, RESOURCES, TRANSLATION_RULES, VSID_COUNTERS } from '../src/client/types.js';
import type { TestGateway } from './support/gateway.js';
import { startTestGateway } from './support/gateway.js';

type Schema = {
  type?: string | string[];
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
  required?: string[];
  enum?: string[];
  minimum?: number;
  maximum?: number;
  maxLength?: number;
  pattern?: string;
  $ref?: string;
  items?: Schema;
};

function fieldsOf(kind: KindName): [string, FieldInfo][] {
  return Object.entries(RESOURCES[kind].fields) as [string, FieldInfo][];
}

describe('the client matches the gateway contract', () => {
  let gateway: TestGateway;
  let client: NvgwClient;
  let schemas: Record<string, Schema>;
  let paths: Record<string, Record<string, unknown>>;

  /** Follows a local $ref (#/components/schemas/X). */
  const deref = (schema: Schema | undefined): Schema | undefined => (schema?.$ref ? schemas[schema.$ref.replace('#/components/schemas/', '')] : schema);
  const json = (holder: unknown): Schema | undefined => (holder as { content?: Record<string, { schema?: Schema }> } | undefined)?.content?.['application/json']?.schema;
  /** The schema of a kind's items, found from its collection path, not from a naming convention. */
  const itemSchema = (kind: KindName): Schema | undefined => {
    const list = paths[`/v1/${RESOURCES[kind].path}`]?.get as { responses?: Record<string, unknown> } | undefined;
    return deref(json(list?.responses?.['200'])?.properties?.items?.items);
  };
  const inputSchema = (kind: KindName): Schema | undefined => {
    const create = paths[`/v1/${RESOURCES[kind].path}`]?.post as { requestBody?: unknown } | undefined;
    return deref(json(create?.requestBody));
  };

  before(async () => {
    gateway = await startTestGateway();
    client = gateway.client();
    const doc = (await client.openapi()) as { components: { schemas: Record<string, Schema> }; paths: Record<string, Record<string, unknown>> };
    schemas = doc.components.schemas;
    paths = doc.paths;
  });
  after(() => gateway.close());

  it('declares exactly the fields and JSON types of each item schema', () => {
    for (const kind of KIND_NAMES) {
      const schema = itemSchema(kind);
      assert.ok(schema, `no item schema for ${kind}`);
      const expected = Object.fromEntries(Object.entries(schema.properties ?? {}).map(([f, s]) => [f, s.type]));
      const ours = Object.fromEntries(fieldsOf(kind).map(([f, info]) => [f, info.type]));
      assert.deepEqual(ours, expected, `fields of ${kind}`);
      assert.deepEqual([...(schema.required ?? [])].sort(), Object.keys(ours).sort(), `${kind}: every field is in every answer`);
    }
  });

  it('requires on input exactly the fields the Input schemas require', () => {
    for (const kind of KIND_NAMES) {
      const input = inputSchema(kind);
      assert.ok(input, `no input schema for ${kind}`);
      const required = fieldsOf(kind)
        .filter(([, info]) => info.default === undefined)
        .map(([f]) => f)
        .sort();
      assert.deepEqual(required, [...(input.required ?? [])].sort(), `required input fields of ${kind}`);
    }
  });

  it('has a collection per kind and addresses items by the key fields, a prefix taking two segments', () => {
    for (const kind of KIND_NAMES) {
      const info = RESOURCES[kind];
      const params = info.keyFields.flatMap((f) => ((info.fields as Record<string, FieldInfo>)[f]?.prefix ? [`{${f}}`, `{${f}Length}`] : [`{${f}}`]));
      const itemPath = `/v1/${info.path}/${params.join('/')}`;
      assert.ok(paths[`/v1/${info.path}`]?.get && paths[`/v1/${info.path}`]?.post, `collection ${info.path}`);
      assert.ok(paths[itemPath]?.get && paths[itemPath]?.put && paths[itemPath]?.delete, `item path ${itemPath}`);
    }
    for (const path of ['/v1/config', '/v1/status', '/v1/openapi.json', '/healthz', '/readyz', '/metrics']) assert.ok(paths[path], path);
  });

  it('lists the same stable error codes as the Error schema', () => {
    assert.deepEqual([...API_ERROR_CODES].sort(), [...(schemas.Error?.properties?.code?.enum ?? [])].sort());
  });

  it('knows the translation rules, VSID range and interface-name pattern of the schemas', () => {
    assert.deepEqual([...TRANSLATION_RULES], inputSchema('lookupRecords')?.properties?.rule?.enum);
    const vsid = inputSchema('virtualSubnets')?.properties?.virtualSubnetId;
    assert.deepEqual([vsid?.minimum, vsid?.maximum], [VSID_MIN, VSID_MAX]);
    assert.equal(inputSchema('providerAddresses')?.properties?.interface?.pattern, INTERFACE_NAME.source);
    assert.equal(inputSchema('providerRoutes')?.properties?.interface?.pattern, INTERFACE_NAME.source);
  });

  it('knows the longest text each free-text field takes', () => {
    for (const kind of KIND_NAMES) {
      const input = inputSchema(kind)?.properties ?? {};
      for (const [field, info] of fieldsOf(kind)) {
        if (input[field]?.maxLength !== undefined || info.maxLength !== undefined) assert.equal(info.maxLength, input[field]?.maxLength, `maxLength of ${kind}.${field}`);
      }
    }
  });

  it('reads data-path counters in the shape of the Stats schema', () => {
    const stats = json((paths['/v1/stats']?.get as { responses?: Record<string, unknown> } | undefined)?.responses?.['200']);
    const schema = deref(stats);
    assert.ok(schema, 'GET /v1/stats answers a Stats document');
    assert.deepEqual(Object.keys(schema.properties ?? {}).sort(), ['drops', 'events', 'vsids']);
    const counter = schema.properties?.drops?.additionalProperties as Schema;
    assert.deepEqual(Object.keys(counter.properties ?? {}).sort(), ['bytes', 'packets']);
    assert.deepEqual(Object.keys((schema.properties?.events?.additionalProperties as Schema).properties ?? {}).sort(), ['bytes', 'packets']);
    assert.deepEqual(Object.keys(schema.properties?.vsids?.items?.properties ?? {}).sort(), ['virtualSubnetId', ...VSID_COUNTERS].sort());
  });

  it('fills the same defaults as the gateway', async () => {
    const rd = await client.routingDomains.create({ routingDomainId: '{11111111-2222-3333-4444-000000005001}' });
    const vs = await client.virtualSubnets.create({ virtualSubnetId: 5001, routingDomainId: rd.routingDomainId });
    const route = await client.customerRoutes.create({ routingDomainId: rd.routingDomainId, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24' });
    const record = await client.lookupRecords.create({ virtualSubnetId: 5001, customerAddress: '192.168.1.101', macAddress: '00155d011404', providerAddress: '10.1.1.20' });
    const pa = await client.providerAddresses.create({ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 });
    const pr = await client.providerRoutes.create({ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1' });
    const peer = await client.providerPeers.create({ providerAddress: '10.1.1.21' });
    const created: Record<KindName, Record<string, unknown>> = {
      routingDomains: { ...rd },
      virtualSubnets: { ...vs },
      customerRoutes: { ...route },
      lookupRecords: { ...record },
      providerAddresses: { ...pa },
      providerRoutes: { ...pr },
      providerPeers: { ...peer },
    };
    for (const kind of KIND_NAMES) {
      for (const [field, info] of fieldsOf(kind)) {
        if (info.default === undefined) continue;
        // An empty nextHop means "on-link of the prefix's family", which the gateway spells out.
        const expected = kind === 'customerRoutes' && field === 'nextHop' ? '0.0.0.0' : info.default;
        assert.equal(created[kind][field], expected, `default of ${kind}.${field}`);
      }
    }
  });

  it('canonicalises administrators\u2019 spellings exactly as the gateway does', async () => {
    const spellings = {
      guid: '11111111-2222-3333-4444-00000000ABCD',
      mac: '00-15-5D-0A-BC-DE',
      ipv6: '2001:DB8:0:0:0:0:0:1',
      prefix6: '2001:DB8:0:0::/64',
    };
    const rd = await client.routingDomains.create({ routingDomainId: spellings.guid });
    assert.equal(rd.routingDomainId, (parseGuid(spellings.guid) as { value: string }).value);
    await client.virtualSubnets.create({ virtualSubnetId: 7001, routingDomainId: rd.routingDomainId });
    const route = await client.customerRoutes.create({ routingDomainId: rd.routingDomainId, virtualSubnetId: 7001, destinationPrefix: spellings.prefix6 });
    assert.equal(route.destinationPrefix, (parseIpPrefix(spellings.prefix6) as { value: string }).value);
    assert.equal(route.nextHop, '::');
    const record = await client.lookupRecords.create({ virtualSubnetId: 7001, customerAddress: spellings.ipv6, macAddress: spellings.mac, providerAddress: '10.1.1.20' });
    assert.equal(record.customerAddress, (parseIpAddress(spellings.ipv6) as { value: string }).value);
    assert.equal(record.macAddress, (parseMac(spellings.mac) as { value: string }).value);
  });
});
