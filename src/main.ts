/**
 * The composition root: the one place where adapters (store, HTTP server, logger) are
 * created and wired to the control plane.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import type { Logger } from 'pino';
import { createApp } from './api/app.js';
import type { NvgwConfig } from './config/config.js';
import { loadOrCreateToken } from './config/token-file.js';
import { ConfigService } from './control/config-service.js';
import { SCHEMA_VERSION, SqliteStore } from './store/sqlite-store.js';
import { WorkerDatapath } from './datapath/engine.js';
import type { DatapathPort } from './datapath/engine.js';
import { IptablesFirewall } from './firewall/iptables.js';
import { reconcileInWorker } from './kernel/isolated-pass.js';
import type { KernelPort } from './kernel/kernel-port.js';
import { createNetlinkKernel } from './kernel/netlink-kernel.js';
import { disableOffloads } from './kernel/ethtool.js';
import { routeGet } from './kernel/route-get.js';
import { summarizeConntrack } from './nat/conntrack.js';
import { procConntrackLines } from './nat/conntrack-proc.js';
import { Reconciler } from './reconciler/reconciler.js';
import type { KernelReconciler } from './reconciler/reconciler.js';

export interface RunningGateway {
  url: string;
  logger: Logger;
  close(): Promise<void>;
}

export function createLogger(level: NvgwConfig['log']['level']): Logger {
  return pino({ level, base: { service: 'nvgw' }, redact: { paths: ['token', '*.token', 'authorization', '*.authorization'], censor: '[redacted]' } });
}

export async function startGateway(config: NvgwConfig, logger: Logger = createLogger(config.log.level)): Promise<RunningGateway> {
  const store = new SqliteStore(config.state.path, config.state.synchronous);
  let service: ConfigService;
  try {
    service = new ConfigService(store);
  } catch (error) {
    store.close();
    throw error;
  }
  logger.info({ statePath: config.state.path, etag: service.etag, counts: service.counts() }, 'desired state loaded');
  service.onChange((changes, revision) => {
    logger.info({ revision, changes: changes.length }, 'desired state changed');
  });

  // The data path: kernel, firewall and packet worker, driven by the reconciler. Without a
  // fabric interface nvgw is a control plane only (the API still keeps the state).
  let reconciler: Reconciler | undefined;
  let datapath: DatapathPort | undefined;
  let kernel: KernelPort | undefined;
  if (config.datapath.fabricInterface !== '') {
    kernel = createNetlinkKernel();
    const port = kernel;
    const kernelReconciler: KernelReconciler = {
      detectBackend: () => port.detectBackend(),
      async reconcile(pass, neighboursOf) {
        const { notes, failed, phases } = await reconcileInWorker(pass, neighboursOf);
        for (const note of notes) logger.info({ note }, 'kernel reconcile note');
        return { failed, phases };
      },
    };
    datapath = new WorkerDatapath({ sharedTenantPort: config.datapath.sharedTenantPort, connectionOffload: config.datapath.connectionOffload }, (message) => {
      if (message.type === 'port-error') logger.error({ ifname: message.ifname, error: message.message }, 'data-path port could not be opened');
      if (message.type === 'fatal') logger.fatal({ error: message.message }, 'data-path worker failed');
    });
    reconciler = new Reconciler(service, store, kernelReconciler, new IptablesFirewall(), datapath, logger, {
      tenantKind: config.datapath.tenantInterfaceKind,
      paMtu: config.datapath.paMtu,
      routeBetweenVsids: config.datapath.routeBetweenVsids,
      fabricIfname: config.datapath.fabricInterface,
      resyncMs: config.datapath.resyncSeconds * 1000,
      firstTable: config.datapath.firstTable,
      tuneTenantLink: disableOffloads,
    });
    try {
      await reconciler.start();
    } catch (error) {
      await reconciler.stop().catch(() => {});
      kernel.close();
      store.close();
      throw error;
    }
    logger.info({ fabric: config.datapath.fabricInterface, backend: reconciler.status().backend }, 'data path running');
  } else {
    logger.warn('datapath.fabricInterface is empty: running as a control plane only, no packets are forwarded');
  }

  const token = loadOrCreateToken(config.api.tokenFile);
  if (token.generated) logger.warn({ tokenFile: config.api.tokenFile }, 'generated a new API token; read it from this file (mode 0600)');
  if (token.warning) logger.warn(token.warning);

  const tls = config.api.tls;
  const app = createApp({
    service,
    token: token.token,
    logger,
    bodyLimit: config.api.bodyLimit,
    acceptClientCertificate: tls.clientCa !== '',
    status: () => ({
      state: { path: config.state.path, schemaVersion: SCHEMA_VERSION, synchronous: config.state.synchronous },
      backend: reconciler?.status().backend ?? 'none',
      datapath: datapath ? { ...datapath.status(), reconcile: reconciler!.status() } : { state: 'disabled' },
    }),
    ...(datapath ? { stats: () => datapath.stats(), routeLookup: routeGet } : {}),
    routeBetweenVsids: config.datapath.routeBetweenVsids,
    ...(reconciler
      ? {
          natConnections: (query) => {
            const { tables, zones } = reconciler!.status();
            const domains = Object.entries(zones).map(([routingDomainId, zone]) => ({ routingDomainId, zone, mark: tables[routingDomainId] ?? 0 }));
            return summarizeConntrack(procConntrackLines(), domains, query);
          },
        }
      : {}),
    ready: () => !reconciler || reconciler.status().passes > 0,
  });
  const server =
    tls.cert !== ''
      ? https.createServer(
          {
            cert: readFileSync(tls.cert),
            key: readFileSync(tls.key),
            ...(tls.clientCa !== '' ? { ca: readFileSync(tls.clientCa), requestCert: true, rejectUnauthorized: false } : {}),
          },
          app,
        )
      : http.createServer(app);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.api.port, config.api.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `${tls.cert !== '' ? 'https' : 'http'}://${host}:${address.port}`;
  logger.info({ url, mtls: tls.clientCa !== '' }, 'provider API listening');

  return {
    url,
    logger,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await reconciler?.stop();
      kernel?.close();
      store.close();
      logger.info('stopped');
    },
  };
}
