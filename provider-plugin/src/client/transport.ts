/**
 * The one place the client touches the network: a function from a request to a status,
 * headers and body text. The default is Node's global fetch. Node 20's fetch cannot take
 * a CA bundle or a client certificate without the undici package (its Agent is not
 * exposed), so when TLS material is given the client uses node:https instead; both
 * classify failures into NvgwConnectionError the same way. Tests inject their own.
 */
import http from 'node:http';
import https from 'node:https';
import { connectionErrorFrom } from './errors.js';

export interface TransportRequest {
  method: string;
  url: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface TransportResponse {
  status: number;
  header(name: string): string | null;
  body: string;
}

export type Transport = (request: TransportRequest) => Promise<TransportResponse>;

export interface TlsOptions {
  /** PEM CA bundle that signed the gateway's certificate. */
  ca?: string | Buffer;
  /** PEM client certificate and key, for mTLS. */
  cert?: string | Buffer;
  key?: string | Buffer;
}

export const fetchTransport: Transport = async (request) => {
  try {
    const response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      signal: AbortSignal.timeout(request.timeoutMs),
      redirect: 'manual',
    });
    const body = await response.text();
    return { status: response.status, header: (name) => response.headers.get(name), body };
  } catch (error) {
    throw connectionErrorFrom(error, request.method, request.url);
  }
};

/** node:http(s) transport, for TLS options that fetch cannot take. */
export function nodeTransport(tls: TlsOptions = {}): Transport {
  return (request) =>
    new Promise<TransportResponse>((resolve, reject) => {
      const url = new URL(request.url);
      const isHttps = url.protocol === 'https:';
      let connected = false;
      const options: https.RequestOptions = {
        method: request.method,
        headers: request.body === undefined ? request.headers : { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
        ...(isHttps ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
      };
      const req = (isHttps ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (error) => fail(error));
        res.on('end', () => {
          clearTimeout(timer);
          const headers = res.headers;
          resolve({
            status: res.statusCode ?? 0,
            header: (name) => {
              const value = headers[name.toLowerCase()];
              return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
            },
            body: Buffer.concat(chunks).toString('utf8'),
          });
        });
      });
      const fail = (error: unknown) => {
        clearTimeout(timer);
        reject(connectionErrorFrom(error, request.method, request.url, connected));
      };
      const timer = setTimeout(() => {
        const error = Object.assign(new Error(`timed out after ${request.timeoutMs} ms`), { code: connected ? 'TIMEOUT' : 'UND_ERR_CONNECT_TIMEOUT' });
        req.destroy(error);
      }, request.timeoutMs);
      req.on('socket', (socket) => {
        // A kept-alive socket is connected already; only a fresh one reports connecting.
        if (!socket.connecting) {
          connected = true;
          return;
        }
        socket.once(isHttps ? 'secureConnect' : 'connect', () => {
          connected = true;
        });
      });
      req.on('error', fail);
      req.end(request.body);
    });
}
