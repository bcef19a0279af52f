/**
 * The provider API as an express app factory (no listen): the composition root binds it
 * to a socket, tests drive it with supertest.
 */
import express from 'express';
import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { ConfigService } from '../control/config-service.js';
import type { DatapathStats } from '../datapath/engine.js';
import { tracePacket } from '../datapath/trace.js';
import type { RouteLookup } from '../datapath/trace.js';
import { ErrorCode, NvgwError } from '../model/errors.js';
import type { KindName } from '../model/resources.js';
import { KIND_NAMES, keyParamNames, kindOf } from '../model/resources.js';
import { requireAuth } from './auth.js';
import { errorHandler } from './errors.js';
import { createApiMetrics } from './metrics.js';
import type { NatConnectionsSource } from './nat.js';
import { mountNat } from './nat.js';
import { buildOpenApi } from './openapi.js';

export interface AppOptions {
  service: ConfigService;
  token: string;
  logger: Logger;
  bodyLimit?: string;
  acceptClientCertificate?: boolean;
  /** Extra fields for /v1/status from other parts of the gateway (data path backend, store). */
  status?: () => Record<string, unknown>;
  /** Readiness beyond "the state is loaded" (e.g. the first reconcile finished). */
  ready?: () => boolean;
  /** Data-path counters; absent when the gateway runs without a data path. */
  stats?: () => DatapathStats;
  /** The kernel's NAT state per routing domain; absent when the gateway runs without a data path. */
  natConnections?: NatConnectionsSource;
  /** The kernel's routing answer for traced packets; absent in tests and without a data path. */
  routeLookup?: RouteLookup;
  /** How the data path routes between VSIDs (datapath.routeBetweenVsids), for /v1/trace. */
  routeBetweenVsids?: boolean;
}

const VERSION = '0.1.0';

function requireJson(req: Request, _res: Response, next: NextFunction): void {
  if (!req.is('application/json')) {
    next(new NvgwError(ErrorCode.UnsupportedMediaType, `send the body as application/json (got ${req.get('content-type') ?? 'no Content-Type'})`));
    return;
  }
  next();
}

function queryFilters(req: Request): Record<string, unknown> {
  return { ...(req.query as Record<string, unknown>) };
}

function flag(req: Request, name: string): boolean {
  const value = req.query[name];
  if (value === undefined) return false;
  if (value === 'true' || value === '1' || value === '') return true;
  if (value === 'false' || value === '0') return false;
  throw new NvgwError(ErrorCode.ValidationFailed, `?${name} must be true or false`, [{ path: `?${name}`, problem: `got ${JSON.stringify(value)}` }]);
}

export function createApp(options: AppOptions): express.Express {
  const { service, logger } = options;
  const startedAt = Date.now();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false); // ETags here are state revisions, set explicitly, not body hashes
  app.set('query parser', 'simple');

  const metrics = createApiMetrics({ counts: () => service.counts(), revision: () => Number(service.etag.replaceAll('"', '')), ...(options.stats ? { datapath: options.stats } : {}) });
  const openapi = buildOpenApi(VERSION);

  app.use(
    pinoHttp({
      logger,
      // Authorization and cookies never reach the log.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], censor: '[redacted]' },
      // Reads are routine (a controller polls); changes and failures are what an operator audits.
      customLogLevel: (req, res, err) =>
        err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : req.method === 'GET' || req.method === 'HEAD' ? 'debug' : 'info',
      autoLogging: { ignore: (req) => req.url === '/healthz' || req.url === '/metrics' },
    }),
  );
  app.use(metrics.middleware);

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });

  app.use(requireAuth(options.token, { acceptClientCertificate: options.acceptClientCertificate ?? false }));
  const json = express.json({ limit: options.bodyLimit ?? '64mb', strict: true, type: () => true });

  app.get('/readyz', (_req, res) => {
    const ready = options.ready?.() ?? true;
    res.status(ready ? 200 : 503).json({ ready });
  });

  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.get('/v1/openapi.json', (_req, res) => {
    res.json(openapi);
  });

  app.get('/v1/status', (_req, res) => {
    res.json({
      version: VERSION,
      uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
      etag: service.etag,
      counts: service.counts(),
      ...(options.status?.() ?? {}),
    });
  });

  app.get('/v1/stats', (_req, res) => {
    if (!options.stats) throw new NvgwError(ErrorCode.DatapathDisabled, 'this gateway runs without a data path (datapath.fabricInterface is empty): there are no packet counters');
    res.json(options.stats());
  });

  app.post('/v1/trace', requireJson, json, async (req, res) => {
    const body = req.body as Record<string, unknown>;
    const problems = typeof body !== 'object' || body === null || Array.isArray(body) ? ['/'] : Object.keys(body).filter((k) => !['ingress', 'hex', 'packet'].includes(k));
    if (problems.length > 0) throw new NvgwError(ErrorCode.ValidationFailed, 'a trace request is {ingress, hex} or {ingress, packet}', problems.map((p) => ({ path: p, problem: 'unknown field' })));
    for (const field of ['ingress', 'hex', 'packet']) {
      if (body[field] !== undefined && typeof body[field] !== 'string') throw new NvgwError(ErrorCode.ValidationFailed, `${field} must be a string`, [{ path: field, problem: 'must be a string' }]);
    }
    res.json(await tracePacket(service.current, { ingress: (body.ingress as string | undefined) ?? 'fabric', hex: body.hex as string | undefined, packet: body.packet as string | undefined }, options.routeLookup, { routeBetweenVsids: options.routeBetweenVsids ?? true }));
  });

  app.get('/v1/config', (_req, res) => {
    const { document, etag } = service.getConfig();
    res.set('ETag', etag).json(document);
  });

  app.put('/v1/config', requireJson, json, (req, res) => {
    const result = service.putConfig(req.body, { ifMatch: req.get('if-match'), dryRun: flag(req, 'dryRun') });
    res.set('ETag', result.etag).json(result);
  });

  for (const name of KIND_NAMES) mountCollection(app, name, service, json);
  mountNat(app, service, options.natConnections);

  app.use((req, _res, next) => {
    next(new NvgwError(ErrorCode.NoSuchRoute, `no route ${req.method} ${req.path}; see /v1/openapi.json`));
  });
  app.use(errorHandler(logger));
  return app;
}

function mountCollection(app: express.Express, name: KindName, service: ConfigService, json: express.RequestHandler): void {
  const kind = kindOf(name);
  const base = `/v1/${kind.path}`;
  const params = keyParamNames(kind);
  const itemPath = `${base}/${params.map((p) => `:${p}`).join('/')}`;
  const segments = (req: Request) => params.map((p) => String(req.params[p]));
  const location = (item: unknown) =>
    `${base}/${kind.keyFields
      .map((f) => String((item as Record<string, unknown>)[f]))
      .map((v) => v.split('/').map(encodeURIComponent).join('/'))
      .join('/')}`;

  app.get(base, (req, res) => {
    res.json({ items: service.list(name, queryFilters(req)) });
  });
  app.post(base, requireJson, json, (req, res) => {
    const item = service.create(name, req.body);
    res.status(201).location(location(item)).set('ETag', service.etag).json(item);
  });
  app.get(itemPath, (req, res) => {
    res.json(service.get(name, segments(req)));
  });
  app.put(itemPath, requireJson, json, (req, res) => {
    const { item, created } = service.put(name, segments(req), req.body);
    res.status(created ? 201 : 200).set('ETag', service.etag).json(item);
  });
  app.delete(itemPath, (req, res) => {
    const plan = service.remove(name, segments(req), flag(req, 'cascade'));
    res.set('ETag', service.etag).json({ deleted: plan.map((change) => ({ kind: change.kind, key: change.key })) });
  });
}
