/**
 * The API test tier's one-line setup (immich style): an app on a fresh store, an authed
 * supertest client whose every response is checked against the OpenAPI document the app
 * serves, and fixture builders for the classic HNV example from the Windows Server 2012
 * "Hyper-V Network Virtualization Gateway" walk-through.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import type { ValidateFunction } from 'ajv/dist/2020.js';
import type { Express } from 'express';
import { pino } from 'pino';
import supertest from 'supertest';
import type { Response, Test } from 'supertest';
import type { AppOptions } from '../../src/api/app.js';
import { createApp } from '../../src/api/app.js';
import { ConfigService } from '../../src/control/config-service.js';
import type { ConfigDocument, CustomerRoute, LookupRecord, ProviderAddress, ProviderRoute, RoutingDomain, VirtualSubnet } from '../../src/model/resources.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { SqliteStore } from '../../src/store/sqlite-store.js';

export const TEST_TOKEN = 'nvgw-api-test-token-5001';

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';
const METHODS: readonly Method[] = ['get', 'post', 'put', 'delete', 'patch'];

/** Authenticated supertest client; every response it yields has passed the OpenAPI check. */
export interface ApiRequest {
  get(url: string): Test;
  post(url: string): Test;
  put(url: string): Test;
  delete(url: string): Test;
  patch(url: string): Test;
  /** The same client sending exactly this Authorization header, or none when undefined. */
  withAuthorization(header: string | undefined): ApiRequest;
}

export interface ApiSetup<S extends MemoryStore | SqliteStore> {
  app: Express;
  service: ConfigService;
  store: S;
  token: string;
  request: ApiRequest;
  /** The document GET /v1/openapi.json served. */
  openapi: OpenApiDocument;
  /** Closes the store (and removes its temporary directory, when setup made one). */
  close(): void;
}

export interface SqliteSetup extends ApiSetup<SqliteStore> {
  /** Closes this store and starts a new app on the same database, as a process restart would. */
  restart(): Promise<SqliteSetup>;
}

export interface SetupOptions extends Partial<Pick<AppOptions, 'bodyLimit' | 'ready' | 'status'>> {
  /** Keep the state in SQLite in a fresh temporary directory instead of memory. */
  sqlite?: boolean;
}

export async function setup(options?: SetupOptions & { sqlite?: false }): Promise<ApiSetup<MemoryStore>>;
export async function setup(options: SetupOptions & { sqlite: true }): Promise<SqliteSetup>;
export async function setup(options: SetupOptions = {}): Promise<ApiSetup<MemoryStore> | SqliteSetup> {
  if (options.sqlite) {
    const dir = mkdtempSync(join(tmpdir(), 'nvgw-api-'));
    return sqliteSetup(join(dir, 'state.db'), dir, options);
  }
  const store = new MemoryStore();
  return { ...(await build(store, options)), close: () => store.close() };
}

async function sqliteSetup(path: string, dir: string, options: SetupOptions): Promise<SqliteSetup> {
  const store = new SqliteStore(path);
  const built = await build(store, options);
  return {
    ...built,
    close() {
      store.close();
      rmSync(dir, { recursive: true, force: true });
    },
    restart() {
      store.close();
      return sqliteSetup(path, dir, options);
    },
  };
}

async function build<S extends MemoryStore | SqliteStore>(store: S, options: SetupOptions): Promise<Omit<ApiSetup<S>, 'close'>> {
  const service = new ConfigService(store);
  const app = createApp({ ...options, service, token: TEST_TOKEN, logger: pino({ level: 'silent' }) });
  const served = await supertest(app).get('/v1/openapi.json').set('Authorization', `Bearer ${TEST_TOKEN}`);
  assert.equal(served.status, 200, 'GET /v1/openapi.json must answer 200');
  const openapi = served.body as OpenApiDocument;
  const checker = responseChecker(openapi);
  checker.check('get', '/v1/openapi.json', served);
  return { app, service, store, token: TEST_TOKEN, openapi, request: client(app, checker, `Bearer ${TEST_TOKEN}`) };
}

function client(app: Express, checker: ResponseChecker, authorization: string | undefined): ApiRequest {
  const make = (method: Method) => (url: string) => {
    const test = supertest(app)[method](url);
    if (authorization !== undefined) test.set('Authorization', authorization);
    return test.expect((res: Response) => checker.check(method, url, res));
  };
  return {
    get: make('get'),
    post: make('post'),
    put: make('put'),
    delete: make('delete'),
    patch: make('patch'),
    withAuthorization: (header) => client(app, checker, header),
  };
}

// ---------------------------------------------------------------------------------------
// OpenAPI response checking

export interface OpenApiResponse {
  description?: string;
  headers?: Record<string, unknown>;
  content?: Record<string, { schema: unknown }>;
}

export interface OpenApiOperation {
  operationId?: string;
  security?: unknown[];
  responses: Record<string, OpenApiResponse>;
}

export interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Partial<Record<Method, OpenApiOperation>> & { parameters?: unknown }>;
  components: { schemas: Record<string, unknown> };
}

/** What the checker needs of a response; supertest's Response has all of it. */
export interface CheckedResponse {
  status: number;
  type: string;
  body: unknown;
  text: string;
  headers: Record<string, string>;
}

export interface ResponseChecker {
  /** Fails (throws an AssertionError) unless the document lists this status for the route and the body fits its schema. */
  check(method: string, url: string, res: CheckedResponse): void;
  /** The path template of the document that a concrete URL falls under, if any. */
  templateOf(url: string): string | undefined;
}

const BASE = 'https://nvgw.test/openapi.json';
const checkers = new Map<string, ResponseChecker>();

/** Builds (once per distinct document) a checker of real responses against an OpenAPI 3.1 document. */
export function responseChecker(doc: OpenApiDocument): ResponseChecker {
  const cacheKey = JSON.stringify(doc);
  const cached = checkers.get(cacheKey);
  if (cached) return cached;

  const ajv = new Ajv2020({ allErrors: true, strict: true });
  // The components ride in one schema under BASE; `components` is only a container, not a keyword.
  ajv.addVocabulary(['components']);
  ajv.addSchema({ $id: BASE, components: doc.components });
  const validators = new Map<string, ValidateFunction>();
  const validatorFor = (id: string, schema: unknown): ValidateFunction => {
    const known = validators.get(id);
    if (known) return known;
    const validate = ajv.compile(absoluteRefs(schema) as object);
    validators.set(id, validate);
    return validate;
  };
  const errorSchema = { $ref: '#/components/schemas/Error' };

  const templates = Object.keys(doc.paths).map((template) => ({
    template,
    // Express routing is not strict: /v1/config/ reaches /v1/config.
    pattern: new RegExp(`^${template.split(/\{[^}]+\}/).map(escapeRegExp).join('[^/]+')}/?$`),
    literal: template.replace(/\{[^}]+\}/g, '').length,
  }));
  // The most literal template wins, so /v1/openapi.json never counts as some /v1/{x}.
  templates.sort((a, b) => b.literal - a.literal);
  const templateOf = (url: string) => templates.find((t) => t.pattern.test(url.split('?')[0]!))?.template;

  const checker: ResponseChecker = {
    templateOf,
    check(method, url, res) {
      const verb = method.toLowerCase() as Method;
      const template = templateOf(url);
      const operation = template ? doc.paths[template]?.[verb] : undefined;
      const where = `${verb.toUpperCase()} ${url}`;
      if (!template || !operation || !METHODS.includes(verb)) {
        // Outside the document the only acceptable answer is the documented error body with 404.
        assert.equal(res.status, 404, `${where} is not in the OpenAPI document, yet answered ${res.status}`);
        assertValid(validatorFor('Error', errorSchema), res.body, `${where} (undocumented route) 404 body`);
        return;
      }
      const label = `${verb.toUpperCase()} ${template} -> ${res.status}`;
      const documented = operation.responses[String(res.status)];
      if (!documented) {
        assert.fail(
          `${label} is not documented in the OpenAPI document (documented: ${Object.keys(operation.responses).join(', ')}); body: ${truncate(res.text)}`,
        );
      }
      for (const header of Object.keys(documented.headers ?? {})) {
        assert.ok(res.headers[header.toLowerCase()] !== undefined, `${label}: documented header ${header} is missing`);
      }
      const content = documented.content;
      if (!content) return;
      const media = content[res.type];
      assert.ok(media, `${label}: Content-Type ${res.type || '(none)'} is not documented (documented: ${Object.keys(content).join(', ')})`);
      const body = res.type === 'application/json' ? res.body : res.text;
      assertValid(validatorFor(`${verb} ${template} ${res.status} ${res.type}`, media.schema), body, label);
    },
  };
  checkers.set(cacheKey, checker);
  return checker;
}

function assertValid(validate: ValidateFunction, body: unknown, label: string): void {
  if (validate(body)) return;
  const errors = (validate.errors ?? []).map((e) => `  ${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('\n');
  assert.fail(`${label}: the body does not match the OpenAPI schema:\n${errors}\nbody: ${truncate(JSON.stringify(body))}`);
}

/** Rewrites `#/components/...` to BASE#/components/..., where ajv holds the components. */
function absoluteRefs(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(absoluteRefs);
  if (typeof schema !== 'object' || schema === null) return schema;
  return Object.fromEntries(
    Object.entries(schema).map(([key, value]) => [key, key === '$ref' && typeof value === 'string' && value.startsWith('#/') ? `${BASE}${value}` : absoluteRefs(value)]),
  );
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const truncate = (text: string | undefined) => (text && text.length > 600 ? `${text.slice(0, 600)}...` : (text ?? ''));

// ---------------------------------------------------------------------------------------
// Fixtures: the classic HNV example, as a controller would send it (HNV spellings).

export const RD1 = '{11111111-2222-3333-4444-000000005001}';
export const RD2 = '{11111111-2222-3333-4444-000000006001}';
export const CUSTOMER = '{99999999-8888-7777-6666-000000000001}';

export function routingDomain(overrides: Partial<RoutingDomain> = {}): RoutingDomain {
  return { routingDomainId: RD1, name: 'Contoso', customerId: CUSTOMER, ...overrides };
}

export function virtualSubnet(overrides: Partial<VirtualSubnet> = {}): VirtualSubnet {
  return { virtualSubnetId: 5001, routingDomainId: RD1, name: 'Contoso front end', ...overrides };
}

export function lookupRecord(overrides: Partial<LookupRecord> = {}): LookupRecord {
  return {
    customerAddress: '192.168.1.101',
    virtualSubnetId: 5001,
    macAddress: '00155D011404',
    providerAddress: '10.1.1.20',
    rule: 'TranslationMethodEncap',
    vmName: 'Blue1',
    useVmMacAddress: false,
    context: '',
    customerId: CUSTOMER,
    ...overrides,
  };
}

export function customerRoute(overrides: Partial<CustomerRoute> = {}): CustomerRoute {
  return { routingDomainId: RD1, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0', metric: 255, ...overrides };
}

export function providerAddress(overrides: Partial<ProviderAddress> = {}): ProviderAddress {
  return { interface: 'eth1', providerAddress: '10.1.1.10', prefixLength: 24, vlanId: 0, ...overrides };
}

export function providerRoute(overrides: Partial<ProviderRoute> = {}): ProviderRoute {
  return { interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1', metric: 256, ...overrides };
}

/**
 * The whole HNV example: Contoso's routing domain with VSID 5001 (two VMs) and VSID 5002
 * (the gateway's CA 192.168.2.250), the VSID 5001 wildcard record, on-link routes for
 * both /24s and a default route via the gateway; and a second tenant reusing
 * 192.168.1.0/24 in its own routing domain with VSID 6001.
 */
export function hnvConfig(): ConfigDocument {
  return {
    routingDomains: [routingDomain(), routingDomain({ routingDomainId: RD2, name: 'Fabrikam', customerId: '' })],
    virtualSubnets: [
      virtualSubnet(),
      virtualSubnet({ virtualSubnetId: 5002, name: 'Contoso gateway' }),
      virtualSubnet({ virtualSubnetId: 6001, routingDomainId: RD2, name: 'Fabrikam' }),
    ],
    customerRoutes: [
      customerRoute(),
      customerRoute({ virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24' }),
      customerRoute({ destinationPrefix: '0.0.0.0/0', nextHop: '192.168.2.250', metric: 256 }),
      customerRoute({ routingDomainId: RD2, virtualSubnetId: 6001 }),
    ],
    lookupRecords: [
      lookupRecord(),
      lookupRecord({ customerAddress: '192.168.1.102', macAddress: '00155D011E04', providerAddress: '10.1.1.30', vmName: 'Blue2' }),
      lookupRecord({ customerAddress: '192.168.2.250', virtualSubnetId: 5002, macAddress: '00155D143C02', providerAddress: '10.1.1.40', vmName: 'Gateway' }),
      lookupRecord({ customerAddress: '0.0.0.0', macAddress: '00155D143C02', providerAddress: '10.1.1.40', vmName: 'Gateway', context: 'wildcard' }),
      lookupRecord({ customerAddress: '192.168.1.101', virtualSubnetId: 6001, macAddress: '00155D016001', providerAddress: '10.1.1.21', vmName: 'Red1', customerId: '' }),
    ],
    providerAddresses: [providerAddress()],
    providerRoutes: [providerRoute()],
    providerPeers: [{ providerAddress: '10.1.1.21', greKeyFormat: 'Rfc7637NoFlowId', description: 'Linux gretap host' }],
  };
}

/** PUTs the HNV example as the whole desired state and returns its ETag. */
export async function seedHnv(request: ApiRequest): Promise<string> {
  const res = await request.put('/v1/config').send(hnvConfig());
  assert.equal(res.status, 200, `seeding the HNV example failed: ${res.text}`);
  return res.headers.etag!;
}

/** The URL of one item, its key segments encoded. */
export function itemUrl(collection: string, ...key: (string | number)[]): string {
  return `/v1/${collection}/${key.map((part) => String(part).split('/').map(encodeURIComponent).join('/')).join('/')}`;
}

/** Asserts the one error body: this status, this stable code, and (optionally) a detail at `path`. */
export function assertError(res: CheckedResponse, status: number, code: string, detailPath?: string): { code: string; message: string; details: { path: string; problem: string }[] } {
  const body = res.body as { code: string; message: string; details: { path: string; problem: string }[] };
  assert.equal(res.status, status, `expected ${status} ${code}, got ${res.status}: ${res.text}`);
  assert.equal(body.code, code, `expected code ${code}: ${res.text}`);
  if (detailPath !== undefined) {
    assert.ok(
      body.details.some((d) => d.path === detailPath),
      `expected a detail at ${detailPath}; details: ${JSON.stringify(body.details)}`,
    );
  }
  return body;
}
