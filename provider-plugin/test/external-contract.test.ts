/**
 * The client's picture of the external-network kinds (NAT and routed connections) against
 * the gateway's own OpenAPI document: fields and JSON types, required inputs, key paths,
 * and the defaults the gateway fills. The HNV kinds are checked in contract.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ExternalFieldInfo, ExternalKindName } from '../src/client/types.js';
import { EXTERNAL_KIND_NAMES, EXTERNAL_RESOURCES, NAT_PROTOCOLS } from '../src/client/types.js';
import type { TestGateway } from './support/gateway.js';
import { startTestGateway } from './support/gateway.js';

type Schema = { type?: string | string[]; properties?: Record<string, Schema>; required?: string[]; enum?: string[]; items?: Schema; $ref?: string; maxLength?: number };

const fieldsOf = (kind: ExternalKindName) => Object.entries(EXTERNAL_RESOURCES[kind].fields) as [string, ExternalFieldInfo][];

describe('the client matches the gateway contract for external networks and NAT', () => {
  let gateway: TestGateway;
  let schemas: Record<string, Schema>;
  let paths: Record<string, Record<string, { requestBody?: unknown; responses?: Record<string, unknown> }>>;
  const deref = (schema: Schema | undefined) => (schema?.$ref ? schemas[schema.$ref.replace('#/components/schemas/', '')] : schema);
  const json = (holder: unknown) => (holder as { content?: Record<string, { schema?: Schema }> } | undefined)?.content?.['application/json']?.schema;
  const itemSchema = (kind: ExternalKindName) => deref(json(paths[`/v1/${EXTERNAL_RESOURCES[kind].path}`]?.get?.responses?.['200'])?.properties?.items?.items);
  const inputSchema = (kind: ExternalKindName) => deref(json(paths[`/v1/${EXTERNAL_RESOURCES[kind].path}`]?.post?.requestBody));

  before(async () => {
    gateway = await startTestGateway();
    const doc = (await gateway.client().openapi()) as { components: { schemas: Record<string, Schema> }; paths: typeof paths };
    schemas = doc.components.schemas;
    paths = doc.paths;
  });
  after(() => gateway.close());

  it('declares exactly the fields and JSON types of each item schema', () => {
    for (const kind of EXTERNAL_KIND_NAMES) {
      const schema = itemSchema(kind);
      assert.ok(schema, `no item schema for ${kind}`);
      assert.deepEqual(Object.fromEntries(fieldsOf(kind).map(([f, info]) => [f, info.type])), Object.fromEntries(Object.entries(schema.properties ?? {}).map(([f, s]) => [f, s.type])), kind);
      assert.deepEqual([...(schema.required ?? [])].sort(), fieldsOf(kind).map(([f]) => f).sort());
    }
  });

  it('requires on input exactly the fields without a default', () => {
    for (const kind of EXTERNAL_KIND_NAMES) {
      const required = fieldsOf(kind).filter(([, info]) => info.default === undefined).map(([f]) => f).sort();
      assert.deepEqual(required, [...(inputSchema(kind)?.required ?? [])].sort(), kind);
    }
  });

  it('addresses items by their key fields and knows the NAT rule protocols', () => {
    for (const kind of EXTERNAL_KIND_NAMES) {
      const info = EXTERNAL_RESOURCES[kind];
      const item = `/v1/${info.path}/${info.keyFields.map((f) => `{${f}}`).join('/')}`;
      assert.ok(paths[item]?.get && paths[item]?.put && paths[item]?.delete, item);
    }
    const protocols = inputSchema('natConnections')?.properties?.rules?.items?.properties?.protocol?.enum ?? [];
    for (const p of NAT_PROTOCOLS) assert.ok(protocols.includes(p), p);
  });

  it('fills the same defaults as the gateway', async () => {
    const post = async (path: string, body: unknown) => {
      const res = await fetch(new URL(path, gateway.url), { method: 'POST', headers: { authorization: `Bearer ${gateway.token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(res.status, 201, await res.clone().text());
      return (await res.json()) as Record<string, unknown>;
    };
    const rd = '{11111111-2222-3333-4444-000000007001}';
    await post('/v1/routing-domains', { routingDomainId: rd });
    const created: Partial<Record<ExternalKindName, Record<string, unknown>>> = {
      externalNetworks: await post('/v1/external-networks', { interface: 'ext0', address: '203.0.113.2', prefixLength: 24 }),
      natConnections: await post('/v1/nat-connections', { routingDomainId: rd, interface: 'ext0', externalAddresses: '203.0.113.10' }),
    };
    await post('/v1/routing-domains', { routingDomainId: '{11111111-2222-3333-4444-000000007002}' });
    await post('/v1/external-networks', { interface: 'rt0', address: '198.18.0.2', prefixLength: 30 });
    created.routedConnections = await post('/v1/routed-connections', { routingDomainId: '{11111111-2222-3333-4444-000000007002}', interface: 'rt0' });
    for (const kind of EXTERNAL_KIND_NAMES) {
      for (const [field, info] of fieldsOf(kind)) {
        if (info.default !== undefined) assert.deepEqual(created[kind]?.[field], info.default, `default of ${kind}.${field}`);
      }
    }
  });
});
