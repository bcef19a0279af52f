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
    status: () => ({ state: { path: config.state.path, schemaVersion: SCHEMA_VERSION, synchronous: config.state.synchronous } }),
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
      store.close();
      logger.info('stopped');
    },
  };
}
