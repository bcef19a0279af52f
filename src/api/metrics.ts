/** Prometheus metrics of the API and the desired state, on a registry of the app's own. */
import type { RequestHandler } from 'express';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { KindName } from '../model/resources.js';
import { KIND_NAMES } from '../model/resources.js';
import type { DatapathStats } from '../datapath/engine.js';

export interface ApiMetrics {
  registry: Registry;
  middleware: RequestHandler;
}

export function createApiMetrics(source: { counts(): Record<KindName, number>; revision(): number; datapath?: () => DatapathStats }): ApiMetrics {
  const registry = new Registry();
  // Process RSS, heap and event-loop lag: what an operator checks first when the API slows.
  collectDefaultMetrics({ register: registry, prefix: 'nvgw_' });
  const requests = new Counter({
    name: 'nvgw_api_requests_total',
    help: 'Provider API requests by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'nvgw_api_request_duration_seconds',
    help: 'Provider API request latency',
    labelNames: ['method', 'route'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5],
    registers: [registry],
  });
  new Gauge({
    name: 'nvgw_config_objects',
    help: 'Objects in the desired state, by kind',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const counts = source.counts();
      for (const kind of KIND_NAMES) this.set({ kind }, counts[kind]);
    },
  });
  new Gauge({
    name: 'nvgw_config_revision',
    help: 'Revision of the desired state (the number in its ETag)',
    registers: [registry],
    collect() {
      this.set(source.revision());
    },
  });

  const datapath = source.datapath;
  if (datapath) {
    // Read from the worker's shared counters at scrape time: nothing is pushed per packet.
    new Counter({
      name: 'nvgw_datapath_drops_total',
      help: 'Packets the data path dropped, by named reason (src/packet/drop-reasons.ts)',
      labelNames: ['reason'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [reason, value] of Object.entries(datapath().drops)) if (value.packets > 0) this.inc({ reason }, value.packets);
      },
    });
    new Counter({
      name: 'nvgw_datapath_vsid_packets_total',
      help: 'Packets per VSID and direction (decap: fabric to tenant; encap: tenant to fabric)',
      labelNames: ['vsid', 'direction'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const v of datapath().vsids) {
          this.inc({ vsid: String(v.virtualSubnetId), direction: 'decap' }, v.decapPackets);
          this.inc({ vsid: String(v.virtualSubnetId), direction: 'encap' }, v.encapPackets);
        }
      },
    });
    new Counter({
      name: 'nvgw_datapath_vsid_bytes_total',
      help: 'Inner bytes per VSID and direction',
      labelNames: ['vsid', 'direction'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const v of datapath().vsids) {
          this.inc({ vsid: String(v.virtualSubnetId), direction: 'decap' }, v.decapBytes);
          this.inc({ vsid: String(v.virtualSubnetId), direction: 'encap' }, v.encapBytes);
        }
      },
    });
  }

  const middleware: RequestHandler = (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      // Label by the route pattern, never the raw URL, so label cardinality stays bounded.
      const route = req.route ? `${req.baseUrl}${String((req.route as { path: string }).path)}` : 'unmatched';
      requests.inc({ method: req.method, route, status: String(res.statusCode) });
      latency.observe({ method: req.method, route }, Number(process.hrtime.bigint() - start) / 1e9);
    });
    next();
  };
  return { registry, middleware };
}
