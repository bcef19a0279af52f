/**
 * Typed client of the nvgw provider API: every resource kind, the whole configuration
 * with its ETag, status, health, metrics, and the data-path endpoints. Requests that fail
 * transiently are retried (see retry.ts for which and why); every failure surfaces as a
 * NvgwApiError (the gateway answered) or a NvgwConnectionError (it did not).
 */
import type { AttemptOutcome, RetryPolicy } from './retry.js';
import { backoffDelay, DEFAULT_RETRY, isRetryable, parseRetryAfter } from './retry.js';
import type { ApiErrorDetail } from './errors.js';
import { NvgwApiError, NvgwConnectionError, UNEXPECTED_RESPONSE } from './errors.js';
import type { TlsOptions, Transport, TransportResponse } from './transport.js';
import { fetchTransport, nodeTransport } from './transport.js';
import type {
  ConfigDocument,
  ConfigInput,
  DeleteResult,
  FilterOf,
  GatewayStats,
  GatewayStatus,
  HealthStatus,
  InputOf,
  ItemOf,
  KeyOf,
  KindName,
  PutConfigResult,
  ReadyStatus,
  TraceRequest,
  TraceResult,
} from './types.js';
import { KIND_NAMES, RESOURCES } from './types.js';
import type { SyncOptions, SyncResult, DesiredState } from './sync.js';
import { syncConfig } from './sync.js';

export interface ClientOptions {
  /** Base URL of the gateway, e.g. http://127.0.0.1:8470 (a path prefix is kept). */
  url: string;
  /** Bearer token; may be left out with mTLS. */
  token?: string;
  /** CA bundle and client certificate for https URLs (switches to the node:https transport). */
  tls?: TlsOptions;
  /** Per attempt; default 30 s. */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  transport?: Transport;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
  /** Told before each retry, e.g. to log it. */
  onRetry?: (info: RetryInfo) => void;
}

export interface RetryInfo {
  method: string;
  url: string;
  /** 1 for the first retry. */
  retry: number;
  delayMs: number;
  reason: string;
}

interface RequestOptions {
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** Overrides the method's idempotency for retrying (a POST that only computes). */
  idempotent?: boolean;
  /** Statuses besides 2xx that are an answer, not an error (readyz's 503). */
  accept?: readonly number[];
  noRetry?: boolean;
}

interface Answer {
  status: number;
  header(name: string): string | null;
  text: string;
  /** An earlier attempt may have been carried out although its answer was lost. */
  ambiguous: boolean;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Items of one kind: list/get/create/put/delete with the kind's own types. */
export class ResourceClient<K extends KindName> {
  constructor(
    private readonly client: NvgwClient,
    readonly kind: K,
  ) {}

  list(filters?: FilterOf<K>): Promise<ItemOf<K>[]> {
    return this.client.list(this.kind, filters);
  }
  get(key: KeyOf<K>): Promise<ItemOf<K>> {
    return this.client.get(this.kind, key);
  }
  create(item: InputOf<K>): Promise<ItemOf<K>> {
    return this.client.create(this.kind, item);
  }
  put(item: InputOf<K>): Promise<{ item: ItemOf<K>; created: boolean }> {
    return this.client.put(this.kind, item);
  }
  delete(key: KeyOf<K>, options?: { cascade?: boolean }): Promise<DeleteResult> {
    return this.client.delete(this.kind, key, options);
  }
}

export class NvgwClient {
  readonly url: string;
  readonly routingDomains: ResourceClient<'routingDomains'>;
  readonly virtualSubnets: ResourceClient<'virtualSubnets'>;
  readonly lookupRecords: ResourceClient<'lookupRecords'>;
  readonly customerRoutes: ResourceClient<'customerRoutes'>;
  readonly providerAddresses: ResourceClient<'providerAddresses'>;
  readonly providerRoutes: ResourceClient<'providerRoutes'>;
  readonly providerPeers: ResourceClient<'providerPeers'>;

  private readonly base: URL;
  private readonly token: string | undefined;
  private readonly transport: Transport;
  private readonly timeoutMs: number;
  private readonly policy: RetryPolicy;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(options: ClientOptions) {
    let base: URL;
    try {
      base = new URL(options.url);
    } catch {
      throw new TypeError(`gateway URL ${JSON.stringify(options.url)} is not a URL such as http://127.0.0.1:8470`);
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new TypeError(`gateway URL ${options.url} must be http:// or https://`);
    if (!base.pathname.endsWith('/')) base.pathname += '/';
    this.base = base;
    this.url = base.href.replace(/\/$/, '');
    this.token = options.token;
    const tls = options.tls;
    const hasTls = tls !== undefined && (tls.ca !== undefined || tls.cert !== undefined || tls.key !== undefined);
    if (hasTls && base.protocol !== 'https:') throw new TypeError(`TLS options need an https:// URL, not ${options.url}`);
    this.transport = options.transport ?? (hasTls ? nodeTransport(tls) : fetchTransport);
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.policy = { ...DEFAULT_RETRY, ...options.retry };
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.onRetry = options.onRetry;
    this.routingDomains = new ResourceClient(this, 'routingDomains');
    this.virtualSubnets = new ResourceClient(this, 'virtualSubnets');
    this.lookupRecords = new ResourceClient(this, 'lookupRecords');
    this.customerRoutes = new ResourceClient(this, 'customerRoutes');
    this.providerAddresses = new ResourceClient(this, 'providerAddresses');
    this.providerRoutes = new ResourceClient(this, 'providerRoutes');
    this.providerPeers = new ResourceClient(this, 'providerPeers');
  }

  resource<K extends KindName>(kind: K): ResourceClient<K> {
    return new ResourceClient(this, kind);
  }

  async list<K extends KindName>(kind: K, filters: FilterOf<K> = {}): Promise<ItemOf<K>[]> {
    const query: Record<string, string> = {};
    for (const [field, value] of Object.entries(filters)) if (value !== undefined) query[field] = String(value);
    const answer = await this.request('GET', `v1/${RESOURCES[kind].path}`, { query });
    return (this.json(answer, 'GET') as { items: ItemOf<K>[] }).items;
  }

  async get<K extends KindName>(kind: K, key: KeyOf<K>): Promise<ItemOf<K>> {
    return this.json(await this.request('GET', itemPath(kind, key)), 'GET') as ItemOf<K>;
  }

  /** Creates one item; 409 when it exists. Not retried once it may have reached the gateway (see retry.ts). */
  async create<K extends KindName>(kind: K, item: InputOf<K>): Promise<ItemOf<K>> {
    return this.json(await this.request('POST', `v1/${RESOURCES[kind].path}`, { body: item }), 'POST') as ItemOf<K>;
  }

  /** Creates or replaces one item, addressed by the key fields in `item`; idempotent. */
  async put<K extends KindName>(kind: K, item: InputOf<K>): Promise<{ item: ItemOf<K>; created: boolean }> {
    const key = RESOURCES[kind].keyFields.map((field) => (item as Record<string, unknown>)[field]);
    if (key.some((value) => value === undefined || value === null)) {
      throw new TypeError(`put ${RESOURCES[kind].singular}: the item must carry its key fields ${RESOURCES[kind].keyFields.join(', ')}`);
    }
    const answer = await this.request('PUT', itemPath(kind, key as (string | number)[]), { body: item });
    return { item: this.json(answer, 'PUT') as ItemOf<K>, created: answer.status === 201 };
  }

  /**
   * Deletes one item (and, with cascade, what refers to it). When an earlier attempt may
   * have deleted it already and the retry finds it gone, that is success with nothing listed.
   */
  async delete<K extends KindName>(kind: K, key: KeyOf<K>, options: { cascade?: boolean } = {}): Promise<DeleteResult> {
    const answer = await this.request('DELETE', itemPath(kind, key), { query: { cascade: options.cascade ? true : undefined }, accept: [404] });
    if (answer.status === 404) {
      if (answer.ambiguous) return { deleted: [] };
      throw this.apiError(answer, 'DELETE', itemPath(kind, key));
    }
    return this.json(answer, 'DELETE') as DeleteResult;
  }

  async getConfig(): Promise<{ document: ConfigDocument; etag: string }> {
    const answer = await this.request('GET', 'v1/config');
    const etag = answer.header('etag');
    if (etag === null) throw this.unexpected(answer, 'GET', 'v1/config', 'GET /v1/config answered without an ETag');
    const document = this.json(answer, 'GET') as ConfigDocument;
    for (const kind of KIND_NAMES) document[kind] ??= [];
    return { document, etag };
  }

  /** Replaces the whole state atomically; with ifMatch, 412 PRECONDITION_FAILED when it changed meanwhile. */
  async putConfig(document: ConfigInput, options: { ifMatch?: string; dryRun?: boolean } = {}): Promise<PutConfigResult> {
    const headers: Record<string, string> = {};
    if (options.ifMatch !== undefined) headers['if-match'] = options.ifMatch;
    const answer = await this.request('PUT', 'v1/config', { body: document, headers, query: { dryRun: options.dryRun ? true : undefined } });
    return this.json(answer, 'PUT') as PutConfigResult;
  }

  /** Desired-state sync: read, compute, PUT with If-Match, re-read and retry on 412 (see sync.ts). */
  sync(desired: DesiredState, options?: SyncOptions): Promise<SyncResult> {
    return syncConfig(this, desired, options);
  }

  async status(): Promise<GatewayStatus> {
    return this.json(await this.request('GET', 'v1/status'), 'GET') as GatewayStatus;
  }

  async openapi(): Promise<Record<string, unknown>> {
    return this.json(await this.request('GET', 'v1/openapi.json'), 'GET') as Record<string, unknown>;
  }

  async healthz(): Promise<HealthStatus> {
    return this.json(await this.request('GET', 'healthz'), 'GET') as HealthStatus;
  }

  /** Readiness; a 503 {ready:false} is an answer, and it is not retried (the caller polls). */
  async readyz(): Promise<ReadyStatus> {
    const answer = await this.request('GET', 'readyz', { accept: [503], noRetry: true });
    return this.json(answer, 'GET') as ReadyStatus;
  }

  /** Prometheus text exposition. */
  async metrics(): Promise<string> {
    return (await this.request('GET', 'metrics')).text;
  }

  /** Data-path counters (GET /v1/stats); 501 DATAPATH_DISABLED from a gateway without a data path. */
  async stats(): Promise<GatewayStats> {
    return this.json(await this.request('GET', 'v1/stats'), 'GET') as GatewayStats;
  }

  /** What the data path would do with a packet (POST /v1/trace); computes only, so it is retried like a GET. */
  async trace(request: TraceRequest): Promise<TraceResult> {
    return this.json(await this.request('POST', 'v1/trace', { body: request, idempotent: true }), 'POST') as TraceResult;
  }

  private async request(method: string, path: string, options: RequestOptions = {}): Promise<Answer> {
    const url = new URL(path, this.base);
    for (const [name, value] of Object.entries(options.query ?? {})) if (value !== undefined) url.searchParams.set(name, String(value));
    const headers: Record<string, string> = { accept: 'application/json', ...options.headers };
    if (this.token !== undefined && this.token !== '') headers.authorization = `Bearer ${this.token}`;
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const retries = options.noRetry ? 0 : this.policy.retries;
    let ambiguous = false;
    for (let attempt = 0; ; attempt++) {
      let response: TransportResponse;
      try {
        response = await this.transport({ method, url: url.href, headers, body, timeoutMs: this.timeoutMs });
      } catch (error) {
        const failure = error instanceof NvgwConnectionError ? error : new NvgwConnectionError({ code: 'NETWORK_ERROR', message: String(error), sent: true, method, url: url.href, cause: error });
        const outcome: AttemptOutcome = { kind: 'network', sent: failure.sent, permanent: failure.code === 'TLS_FAILED' };
        if (attempt >= retries || !isRetryable(method, options.idempotent, outcome)) throw failure;
        ambiguous ||= failure.sent;
        await this.pause(method, url.href, attempt, failure.message);
        continue;
      }
      if ((response.status >= 200 && response.status < 300) || options.accept?.includes(response.status)) {
        return { status: response.status, header: response.header, text: response.body, ambiguous };
      }
      const error = this.apiError({ status: response.status, text: response.body }, method, url.href);
      const outcome: AttemptOutcome = { kind: 'status', status: response.status, code: error.code };
      if (attempt >= retries || !isRetryable(method, options.idempotent, outcome)) throw error;
      ambiguous ||= !(response.status === 503 && error.code === 'STORAGE_FAILED');
      await this.pause(method, url.href, attempt, `${response.status} ${error.code}`, parseRetryAfter(response.header('retry-after'), this.now()));
    }
  }

  private async pause(method: string, url: string, attempt: number, reason: string, retryAfterMs?: number): Promise<void> {
    const delayMs = backoffDelay(this.policy, attempt, this.random, retryAfterMs);
    this.onRetry?.({ method, url, retry: attempt + 1, delayMs, reason });
    await this.sleep(delayMs);
  }

  private json(answer: Answer, method: string): unknown {
    try {
      return JSON.parse(answer.text) as unknown;
    } catch {
      throw this.unexpected(answer, method, '', `the gateway answered ${answer.status} with a body that is not JSON`);
    }
  }

  private apiError(answer: Pick<Answer, 'status' | 'text'>, method: string, url: string): NvgwApiError {
    let parsed: unknown;
    try {
      parsed = JSON.parse(answer.text);
    } catch {
      parsed = undefined;
    }
    const body = parsed as { code?: unknown; message?: unknown; details?: unknown } | undefined;
    if (body && typeof body.code === 'string' && typeof body.message === 'string') {
      const details = Array.isArray(body.details) ? (body.details as ApiErrorDetail[]).filter((d) => d && typeof d.path === 'string' && typeof d.problem === 'string') : [];
      return new NvgwApiError({ status: answer.status, code: body.code, message: body.message, details, method, url: absolute(url, this.base) });
    }
    const snippet = answer.text.trim().slice(0, 200);
    return new NvgwApiError({
      status: answer.status,
      code: UNEXPECTED_RESPONSE,
      message: `HTTP ${answer.status} without an nvgw error body${snippet ? `: ${snippet}` : ''}`,
      method,
      url: absolute(url, this.base),
    });
  }

  private unexpected(answer: Pick<Answer, 'status'>, method: string, url: string, message: string): NvgwApiError {
    return new NvgwApiError({ status: answer.status, code: UNEXPECTED_RESPONSE, message, method, url: absolute(url, this.base) });
  }
}

function absolute(url: string, base: URL): string {
  return new URL(url, base).href;
}

/**
 * URL of one item: its key fields in order, each URL-encoded; a prefix field takes two
 * segments (address and length), as the API's routes expect.
 */
export function itemPath<K extends KindName>(kind: K, key: KeyOf<K>): string {
  const info = RESOURCES[kind];
  const values: unknown[] = Array.isArray(key) ? [...(key as readonly unknown[])] : info.keyFields.map((field) => (key as Record<string, unknown>)[field]);
  if (values.length !== info.keyFields.length || values.some((v) => v === undefined || v === null || v === '')) {
    throw new RangeError(`a ${info.singular} is named by ${info.keyFields.join(', ')}`);
  }
  const segments: string[] = [];
  info.keyFields.forEach((field, i) => {
    const text = String(values[i]);
    const spec = (info.fields as Record<string, { prefix?: true }>)[field];
    if (spec?.prefix) {
      const slash = text.lastIndexOf('/');
      if (slash < 0) throw new RangeError(`${field} must be a prefix such as 192.168.1.0/24, got ${JSON.stringify(text)}`);
      segments.push(text.slice(0, slash), text.slice(slash + 1));
    } else {
      segments.push(text);
    }
  });
  return `v1/${info.path}/${segments.map(encodeURIComponent).join('/')}`;
}
