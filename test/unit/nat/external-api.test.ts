// External networks, NAT and routed connections through the API: generic CRUD, /v1/config,
// canonical forms, and every consistency rule with its stable code. Every response passes
// the OpenAPI check of test/support/api.ts.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assertError, setup } from '../../support/api.js';
import type { externalPart } from './fixtures.js';
import { BLUE, GREEN, hnvPart, natConfig, RED } from './fixtures.js';

async function seeded() {
  const api = await setup();
  const res = await api.request.put('/v1/config').send(natConfig());
  assert.equal(res.status, 200, res.text);
  return api;
}

const enc = encodeURIComponent;

describe('external networks and connections in /v1/config', () => {
  it('round-trips a document with NAT and routed connections, in canonical form', async () => {
    const { request } = await seeded();
    const doc = (await request.get('/v1/config').expect(200)).body as ReturnType<typeof externalPart>;
    assert.equal(doc.externalNetworks.length, 2);
    const blue = doc.natConnections.find((c) => c.routingDomainId === BLUE)!;
    assert.deepEqual(blue.rules[1], { name: 'db', protocol: 'Any', externalAddress: '203.0.113.20', externalPort: 0, internalAddress: '192.168.1.102', internalPort: 0 });
    assert.deepEqual(doc.routedConnections, [{ routingDomainId: GREEN, name: '', interface: 'rt0' }]);
    const again = await request.put('/v1/config').send(doc);
    assert.equal((again.body as { applied: boolean }).applied, false, 'PUTting back what GET returned changes nothing');
  });

  it('accepts administrators\' spellings: protocol in any case, ports as strings, a range with spaces', async () => {
    const { request } = await setup();
    await request.put('/v1/config').send(hnvPart()).expect(200);
    await request.post('/v1/external-networks').send({ interface: 'eth1.100', address: '203.0.113.2', prefixLength: '24' }).expect(201);
    const res = await request
      .post('/v1/nat-connections')
      .send({ routingDomainId: BLUE.toUpperCase().replace(/[{}]/g, ''), interface: 'eth1.100', externalAddresses: '203.0.113.10 - 203.0.113.13', rules: [{ protocol: 'tcp', externalAddress: '203.0.113.10', externalPort: '443', internalAddress: '192.168.1.101' }] });
    assert.equal(res.status, 201, res.text);
    assert.equal(res.body.routingDomainId, BLUE);
    assert.equal(res.body.externalAddresses, '203.0.113.10-203.0.113.13');
    assert.deepEqual(res.body.rules, [{ name: '', protocol: 'TCP', externalAddress: '203.0.113.10', externalPort: 443, internalAddress: '192.168.1.101', internalPort: 443 }]);
    assert.equal(res.headers.location, `/v1/nat-connections/${enc(BLUE)}`);
  });

  it('lists, filters, gets and replaces connections like any other kind', async () => {
    const { request } = await seeded();
    assert.equal((await request.get('/v1/nat-connections?interface=ext0').expect(200)).body.items.length, 2);
    assert.equal((await request.get('/v1/nat-connections?interface=rt0').expect(200)).body.items.length, 0);
    const red = (await request.get(`/v1/nat-connections/${enc(RED)}`).expect(200)).body as { rules: unknown[] };
    const replaced = await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [] });
    assert.equal(replaced.status, 200, replaced.text);
    assert.deepEqual(replaced.body.rules, []);
    await request.get('/v1/external-networks/ext0').expect(200);
  });

  it('shares one SNAT address between routing domains: the ranges may overlap', async () => {
    const { request } = await seeded();
    const doc = (await request.get('/v1/config').expect(200)).body as ReturnType<typeof externalPart>;
    assert.deepEqual(doc.natConnections.map((c) => c.externalAddresses), ['203.0.113.10', '203.0.113.10']);
  });
});

describe('the rules of external connections', () => {
  it('a connection needs its routing domain and external network: 422 UNKNOWN_REFERENCE', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/routed-connections').send({ routingDomainId: '{11111111-2222-3333-4444-0000000000aa}', interface: 'rt0' }), 422, 'UNKNOWN_REFERENCE', 'routingDomainId');
    await request.delete(`/v1/routed-connections/${enc(GREEN)}`).expect(200);
    assertError(await request.post('/v1/routed-connections').send({ routingDomainId: GREEN, interface: 'wan9' }), 422, 'UNKNOWN_REFERENCE', 'interface');
  });

  it('a routing domain has one external connection: 409 DOMAIN_ALREADY_CONNECTED', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/nat-connections').send({ routingDomainId: GREEN, interface: 'ext0', externalAddresses: '203.0.113.11' }), 409, 'DOMAIN_ALREADY_CONNECTED', 'routingDomainId');
  });

  it('a routed connection has its uplink to itself: 409 EXTERNAL_NETWORK_IN_USE both ways', async () => {
    const { request } = await seeded();
    await request.delete(`/v1/nat-connections/${enc(RED)}`).expect(200);
    assertError(await request.post('/v1/nat-connections').send({ routingDomainId: RED, interface: 'rt0', externalAddresses: '198.18.0.2' }), 409, 'EXTERNAL_NETWORK_IN_USE', 'interface');
    await request.delete(`/v1/routed-connections/${enc(GREEN)}`).expect(200);
    assertError(await request.post('/v1/routed-connections').send({ routingDomainId: GREEN, interface: 'ext0' }), 409, 'EXTERNAL_NETWORK_IN_USE', 'interface');
  });

  it('a static mapping\'s external address is its alone: 409 EXTERNAL_ADDRESS_IN_USE', async () => {
    const { request } = await seeded();
    const red = (await request.get(`/v1/nat-connections/${enc(RED)}`).expect(200)).body as { rules: object[] };
    const withRule = (rule: object) => request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [rule] });
    assertError(await withRule({ protocol: 'Any', externalAddress: '203.0.113.20', internalAddress: '192.168.1.50' }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'rules/0/externalAddress');
    assertError(await withRule({ protocol: 'UDP', externalAddress: '203.0.113.20', externalPort: 53, internalAddress: '192.168.1.50' }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'rules/0/externalAddress');
    assertError(await withRule({ protocol: 'Any', externalAddress: '203.0.113.2', internalAddress: '192.168.1.50' }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'rules/0/externalAddress');
    assertError(await withRule({ protocol: 'Any', externalAddress: '203.0.113.10', internalAddress: '192.168.1.50' }), 409, 'EXTERNAL_ADDRESS_IN_USE', '/rules/0/externalAddress');
    const blue = (await request.get(`/v1/nat-connections/${enc(BLUE)}`).expect(200)).body as object;
    await request.put(`/v1/nat-connections/${enc(BLUE)}`).send({ ...blue, externalAddresses: '203.0.113.10-203.0.113.11' }).expect(200);
    assertError(await withRule({ protocol: 'Any', externalAddress: '203.0.113.11', internalAddress: '192.168.1.50' }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'rules/0/externalAddress');
    assertError(await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, externalAddresses: '203.0.113.19-203.0.113.20' }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'externalAddresses');
    assertError(await request.post('/v1/external-networks').send({ interface: 'ext1', address: '203.0.113.20', prefixLength: 24 }), 409, 'EXTERNAL_ADDRESS_IN_USE', 'address');
  });

  it('one forward per external address, protocol and port: 409 EXTERNAL_PORT_IN_USE; another protocol is fine', async () => {
    const { request } = await seeded();
    const red = (await request.get(`/v1/nat-connections/${enc(RED)}`).expect(200)).body as { rules: object[] };
    const forward = (protocol: string) => ({ protocol, externalAddress: '203.0.113.10', externalPort: 8080, internalAddress: '192.168.1.101' });
    assertError(await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [forward('TCP')] }), 409, 'EXTERNAL_PORT_IN_USE', 'rules/0/externalPort');
    await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [forward('UDP')] }).expect(200);
    assertError(await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [forward('UDP'), forward('udp')] }), 409, 'EXTERNAL_PORT_IN_USE', '/rules/1/externalPort');
  });

  it('no port forward to a CA that has a static mapping: 409 INTERNAL_ADDRESS_IN_USE', async () => {
    const { request } = await seeded();
    const red = (await request.get(`/v1/nat-connections/${enc(RED)}`).expect(200)).body as { rules: object[] };
    const res = await request.put(`/v1/nat-connections/${enc(RED)}`).send({ ...red, rules: [...red.rules, { protocol: 'TCP', externalAddress: '203.0.113.10', externalPort: 2222, internalAddress: '192.168.1.102', internalPort: 22 }] });
    assertError(res, 409, 'INTERNAL_ADDRESS_IN_USE', '/rules/2/internalAddress');
  });

  it('an interface is a provider interface or an uplink, never both: 409 INTERFACE_IN_USE both ways', async () => {
    const { request } = await seeded();
    assertError(await request.post('/v1/external-networks').send({ interface: 'fab0', address: '203.0.113.5', prefixLength: 24 }), 409, 'INTERFACE_IN_USE', 'interface');
    assertError(await request.post('/v1/provider-addresses').send({ interface: 'ext0', providerAddress: '10.1.1.41', prefixLength: 24 }), 409, 'INTERFACE_IN_USE', 'interface');
  });

  for (const [what, body, path] of [
    ['an IPv6 uplink address', { interface: 'ext1', address: '2001:db8::2', prefixLength: 64 }, 'address'],
    ['a default gateway outside the uplink subnet', { interface: 'ext1', address: '203.0.113.2', prefixLength: 24, defaultGateway: '198.51.100.1' }, 'defaultGateway'],
    ['an nvgw tenant interface as uplink', { interface: 'nvgw-t5001', address: '203.0.113.2', prefixLength: 24 }, 'interface'],
    ['a multicast address', { interface: 'ext1', address: '224.0.0.5', prefixLength: 24 }, 'address'],
  ] as const) {
    it(`refuses ${what}: 422 VALIDATION_FAILED`, async () => {
      const { request } = await setup();
      assertError(await request.post('/v1/external-networks').send(body), 422, 'VALIDATION_FAILED', `/${path}`);
    });
  }

  for (const [what, patch, path] of [
    ['a range that ends before it starts', { externalAddresses: '203.0.113.20-203.0.113.10' }, 'externalAddresses'],
    ['a range of more than 256 addresses', { externalAddresses: '203.0.112.0-203.0.113.255' }, 'externalAddresses'],
    ['a static mapping with ports', { rules: [{ protocol: 'Any', externalAddress: '203.0.113.30', externalPort: 80, internalAddress: '192.168.1.5' }] }, 'rules/0/externalPort'],
    ['a port forward without a port', { rules: [{ protocol: 'TCP', externalAddress: '203.0.113.30', internalAddress: '192.168.1.5' }] }, 'rules/0/externalPort'],
    ['an unknown field in a rule', { rules: [{ protocol: 'TCP', externalAddress: '203.0.113.30', externalPort: 80, internalAddress: '192.168.1.5', via: 'x' }] }, 'rules/0/via'],
    ['a protocol other than TCP, UDP or Any', { rules: [{ protocol: 'SCTP', externalAddress: '203.0.113.30', externalPort: 80, internalAddress: '192.168.1.5' }] }, 'rules/0/protocol'],
  ] as const) {
    it(`refuses ${what}: 422 VALIDATION_FAILED`, async () => {
      const { request } = await seeded();
      await request.delete(`/v1/nat-connections/${enc(RED)}`).expect(200);
      const body = Object.assign({ routingDomainId: RED, interface: 'ext0', externalAddresses: '203.0.113.10' }, patch);
      assertError(await request.post('/v1/nat-connections').send(body), 422, 'VALIDATION_FAILED', `/${path}`);
    });
  }
});

describe('references and cascade of external connections', () => {
  it('a routing domain with a connection is still referenced: 409, then ?cascade=true deletes both', async () => {
    const { request } = await seeded();
    assertError(await request.delete(`/v1/routing-domains/${enc(BLUE)}`), 409, 'STILL_REFERENCED');
    const res = await request.delete(`/v1/routing-domains/${enc(BLUE)}?cascade=true`).expect(200);
    const deleted = (res.body as { deleted: { kind: string; key: string }[] }).deleted;
    assert.ok(deleted.some((d) => d.kind === 'natConnections' && d.key === BLUE), JSON.stringify(deleted));
    await request.get(`/v1/nat-connections/${enc(BLUE)}`).expect(404);
  });

  it('an external network in use is still referenced; with cascade its connections go with it, the address is free again', async () => {
    const { request } = await seeded();
    assertError(await request.delete('/v1/external-networks/ext0'), 409, 'STILL_REFERENCED');
    const res = await request.delete('/v1/external-networks/ext0?cascade=true').expect(200);
    assert.deepEqual((res.body as { deleted: { kind: string }[] }).deleted.map((d) => d.kind).sort(), ['externalNetworks', 'natConnections', 'natConnections']);
    await request.post('/v1/external-networks').send({ interface: 'ext1', address: '203.0.113.20', prefixLength: 24 }).expect(201);
  });

  it('PUT /v1/config is all or nothing: one bad connection keeps the whole document out', async () => {
    const { request } = await setup();
    const doc = natConfig();
    doc.natConnections[1]!.rules[0]!.externalPort = 8080; // red now forwards blue's port
    const before = await request.get('/v1/config').expect(200);
    assertError(await request.put('/v1/config').send(doc), 409, 'EXTERNAL_PORT_IN_USE', 'natConnections/1/rules/0/externalPort');
    assert.deepEqual((await request.get('/v1/config').expect(200)).body, before.body);
  });

  it('a dry run lists the external objects it would add', async () => {
    const { request } = await setup();
    const res = await request.put('/v1/config?dryRun=true').send(natConfig()).expect(200);
    const summary = (res.body as { summary: Record<string, { added: number }> }).summary;
    assert.deepEqual([summary.externalNetworks?.added, summary.natConnections?.added, summary.routedConnections?.added], [2, 2, 1]);
  });
});
