// Property: nothing a client POSTs or PUTs makes the API answer 5xx, and whatever it accepted
// leaves a state that is still valid as a whole (GET /v1/config, then PUT it back).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { ApiRequest } from '../support/api.js';
import { customerRoute, hnvConfig, itemUrl, lookupRecord, providerAddress, providerRoute, RD2, routingDomain, seedHnv, setup, virtualSubnet } from '../support/api.js';

const NUM_RUNS = 150;

const octet = fc.integer({ min: 1, max: 254 });
const unicastMac = fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 6, maxLength: 6 }).map((bytes) => bytes.map((b, i) => (i === 0 ? b & 0xfe : b).toString(16).padStart(2, '0')).join('-'));

interface Kind {
  /** A valid new item, with a fresh key each time. */
  valid: fc.Arbitrary<Record<string, unknown>>;
  /** Its key fields, in URL order. */
  keyFields: string[];
}

const KINDS: Record<string, Kind> = {
  'routing-domains': { valid: fc.uuid().map((id) => ({ ...routingDomain({ routingDomainId: `{${id}}` }) })), keyFields: ['routingDomainId'] },
  'virtual-subnets': { valid: fc.integer({ min: 4096, max: 16777214 }).map((vsid) => ({ ...virtualSubnet({ virtualSubnetId: vsid }) })), keyFields: ['virtualSubnetId'] },
  'lookup-records': {
    valid: fc.tuple(octet, unicastMac).map(([host, mac]) => ({ ...lookupRecord({ customerAddress: `192.168.1.${host}`, macAddress: mac }) })),
    keyFields: ['virtualSubnetId', 'customerAddress'],
  },
  'customer-routes': {
    valid: octet.map((n) => ({ ...customerRoute({ destinationPrefix: `10.${n}.0.0/16`, nextHop: '192.168.2.250' }) })),
    keyFields: ['routingDomainId', 'virtualSubnetId', 'destinationPrefix'],
  },
  'provider-addresses': { valid: fc.tuple(octet, octet).map(([a, b]) => ({ ...providerAddress({ providerAddress: `10.2.${a}.${b}` }) })), keyFields: ['providerAddress'] },
  'provider-routes': { valid: octet.map((n) => ({ ...providerRoute({ destinationPrefix: `10.${n}.0.0/16` }) })), keyFields: ['interface', 'destinationPrefix'] },
};
const COLLECTIONS = Object.keys(KINDS);

/** Values on the edges of the field types: near-misses, other kinds' values, odd spellings. */
const edgeValue = fc.constantFrom<unknown>(
  '', ' ', '0', '-1', '4095', '4096', '16777214', '16777215', '99999999999', '5001', ' 5001', '1e3', 5001.5, -0, 1e21, Number.MAX_SAFE_INTEGER,
  '0.0.0.0', '::', '::ffff:192.168.1.1', '192.168.1.256', '192.168.1.010', '2001:db8::1', '2001:db8:::1', '1:2:3:4:5:6:7:8:9',
  '192.168.1.0/24', '192.168.1.5/24', '0.0.0.0/0', '::/0', '2001:db8::/129', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', '/24', '10.0.0.0/',
  '{11111111-2222-3333-4444-000000005001}', '{11111111-2222-3333-4444-000000005001', RD2, '{}', '00155D011404', '00-15-5D-01-14-04', '00:15:5d:01:14:04',
  'ff:ff:ff:ff:ff:ff', '00-15-5D:01-14-04', 'TranslationMethodEncap', 'TranslationMethodNat', 'True', 'false', true, null, [], {}, [1], { a: 1 },
  'eth1', 'eth0.100', 'a'.repeat(16), '..', 'x'.repeat(2000), '\u0000', '\u2028', '\ud800',
);

/** Keys that trip code which indexes plain objects by untrusted names. */
const ODD_FIELDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'extra', ''];

type Mutation = { op: 'set'; field: string; value: unknown } | { op: 'delete'; field: string };

function mutate(base: Record<string, unknown>, mutations: readonly Mutation[]): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const m of mutations) {
    if (m.op === 'delete') delete out[m.field];
    // defineProperty, so "__proto__" becomes an own key that JSON.stringify sends.
    else Object.defineProperty(out, m.field, { value: m.value, enumerable: true, writable: true, configurable: true });
  }
  return out;
}

/** A valid new item of the kind with zero to three mutations: about a third arrive intact. */
function mutated(kind: Kind): fc.Arbitrary<{ original: Record<string, unknown>; body: Record<string, unknown> }> {
  return kind.valid.chain((original) => {
    const fields = Object.keys(original);
    const mutation: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({ op: fc.constant('set' as const), field: fc.constantFrom(...fields, ...ODD_FIELDS), value: fc.oneof(edgeValue, fc.jsonValue({ maxDepth: 2 })) }),
      fc.record({ op: fc.constant('delete' as const), field: fc.constantFrom(...fields) }),
    );
    return fc
      .oneof(fc.constant([] as Mutation[]), fc.array(mutation, { minLength: 1, maxLength: 3 }))
      .map((mutations) => ({ original, body: mutate(original, mutations) }));
  });
}

/** Raw JSON text: a (mutated) item, any JSON value, or text that is not JSON at all. */
function bodies(kind: Kind): fc.Arbitrary<string> {
  return fc.oneof(
    { weight: 4, arbitrary: mutated(kind).map(({ body }) => JSON.stringify(body)) },
    { weight: 1, arbitrary: fc.jsonValue().map((value) => JSON.stringify(value) ?? 'null') },
    { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  );
}

function safeItemUrl(collection: string, key: unknown[]): string {
  try {
    return itemUrl(collection, ...key.map(String));
  } catch {
    return `/v1/${collection}/x`; // encodeURIComponent refuses lone surrogates; no client can send those
  }
}

async function assertStateValid(request: ApiRequest): Promise<void> {
  const current = await request.get('/v1/config');
  assert.equal(current.status, 200);
  const back = await request.put('/v1/config').set('If-Match', current.headers.etag!).send(current.body);
  assert.equal(back.status, 200, `PUTting back the state was refused: ${back.text}`);
  assert.equal((back.body as { applied: boolean }).applied, false);
}

describe('no input makes the API fail', () => {
  for (const collection of COLLECTIONS) {
    it(`POST /v1/${collection} answers 2xx or 4xx for any body, and the state stays valid`, async () => {
      const { request } = await setup();
      await seedHnv(request);
      await fc.assert(
        fc.asyncProperty(bodies(KINDS[collection]!), async (text) => {
          const res = await request.post(`/v1/${collection}`).type('json').send(text);
          assert.ok(res.status < 500, `${res.status} for ${text}: ${res.text}`);
        }),
        { numRuns: NUM_RUNS },
      );
      await assertStateValid(request);
    });
  }

  it('PUT of one item answers 2xx or 4xx for any body at any URL key, and the state stays valid', async () => {
    const { request } = await setup();
    await seedHnv(request);
    const segment = fc.oneof(edgeValue.map(String), fc.string({ minLength: 1, maxLength: 20 }));
    const randomKey = fc.tuple(fc.constantFrom(...COLLECTIONS), fc.array(segment, { minLength: 1, maxLength: 4 }), fc.jsonValue());
    // The URL names the item's original key; a mutated body may name another (KEY_MISMATCH).
    const itemKey = fc
      .constantFrom(...COLLECTIONS)
      .chain((collection) =>
        mutated(KINDS[collection]!).map(({ original, body }) => [collection, KINDS[collection]!.keyFields.map((f) => original[f]), body] as const),
      );
    await fc.assert(
      fc.asyncProperty(fc.oneof(randomKey, itemKey), async ([collection, key, body]) => {
        const url = safeItemUrl(collection, key);
        const res = await request.put(url).type('json').send(JSON.stringify(body));
        assert.ok(res.status < 500, `${res.status} for PUT ${url} ${JSON.stringify(body)}: ${res.text}`);
      }),
      { numRuns: NUM_RUNS },
    );
    await assertStateValid(request);
  });

  it('PUT /v1/config answers 2xx or 4xx for mutated documents, and the state stays valid', async () => {
    const { request } = await setup();
    await seedHnv(request);
    const doc = hnvConfig() as unknown as Record<string, Record<string, unknown>[]>;
    const names: Record<string, string> = {
      'routing-domains': 'routingDomains',
      'virtual-subnets': 'virtualSubnets',
      'lookup-records': 'lookupRecords',
      'customer-routes': 'customerRoutes',
      'provider-addresses': 'providerAddresses',
      'provider-routes': 'providerRoutes',
    };
    // Mostly an item of the right kind, sometimes one of another kind, at any index (or appended).
    const mutatedDoc = fc
      .tuple(fc.constantFrom(...COLLECTIONS), fc.constantFrom(...COLLECTIONS, null), fc.nat())
      .chain(([collection, intruder, index]) =>
        mutated(KINDS[intruder ?? collection]!).map(({ body }) => {
          const name = names[collection]!;
          const list = [...doc[name]!];
          list[index % (list.length + 1)] = body;
          return { ...doc, [name]: list };
        }),
      );
    await fc.assert(
      fc.asyncProperty(mutatedDoc, async (body) => {
        const res = await request.put('/v1/config').send(body);
        assert.ok(res.status < 500, `${res.status}: ${res.text}`);
      }),
      { numRuns: NUM_RUNS },
    );
    await assertStateValid(request);
  });
});
