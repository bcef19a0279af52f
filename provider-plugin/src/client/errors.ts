/**
 * Errors of the client, each with a stable `code` (the undici pattern): an API error
 * carries the gateway's own code from its error body {code, message, details}; anything
 * that kept us from getting an HTTP answer at all is a connection error.
 */

/** The gateway's stable error codes (the enum of the Error schema in /v1/openapi.json). */
export const API_ERROR_CODES = [
  'VALIDATION_FAILED',
  'VSID_OUT_OF_RANGE',
  'PREFIX_HOST_BITS_SET',
  'VSID_IN_OTHER_DOMAIN',
  'DUPLICATE_LOOKUP_RECORD',
  'CUSTOMER_ADDRESS_NOT_ON_LINK',
  'UNKNOWN_REFERENCE',
  'STILL_REFERENCED',
  'ALREADY_EXISTS',
  'KEY_MISMATCH',
  'MALFORMED_REQUEST',
  'NOT_FOUND',
  'NO_SUCH_ROUTE',
  'PRECONDITION_FAILED',
  'MALFORMED_JSON',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'UNAUTHORIZED',
  'STORAGE_FAILED',
  'DATAPATH_DISABLED',
  'EXTERNAL_ADDRESS_IN_USE',
  'EXTERNAL_PORT_IN_USE',
  'INTERNAL_ADDRESS_IN_USE',
  'EXTERNAL_NETWORK_IN_USE',
  'DOMAIN_ALREADY_CONNECTED',
  'INTERFACE_IN_USE',
  'INTERNAL',
] as const;

export type ApiErrorCode = (typeof API_ERROR_CODES)[number];

/**
 * Codes the client gives an HTTP answer that carries no gateway error body (a proxy's
 * HTML 502, a truncated body): the status is still known, the gateway's code is not.
 */
export const UNEXPECTED_RESPONSE = 'UNEXPECTED_RESPONSE';

export interface ApiErrorDetail {
  path: string;
  problem: string;
}

/** The gateway answered with an error status (4xx or 5xx). */
export class NvgwApiError extends Error {
  override readonly name = 'NvgwApiError';
  readonly status: number;
  /** One of API_ERROR_CODES, or UNEXPECTED_RESPONSE; a newer gateway may send codes this client does not list. */
  readonly code: ApiErrorCode | typeof UNEXPECTED_RESPONSE | (string & {});
  readonly details: ApiErrorDetail[];
  readonly method: string;
  readonly url: string;

  constructor(init: { status: number; code: string; message: string; details?: ApiErrorDetail[]; method: string; url: string }) {
    super(init.message);
    this.status = init.status;
    this.code = init.code;
    this.details = init.details ?? [];
    this.method = init.method;
    this.url = init.url;
  }
}

/**
 * Why no HTTP answer arrived. `sent` is false only when the request provably never
 * reached the gateway (refused, unresolvable, TCP connect timeout), which is what makes a
 * retry of a non-idempotent request safe.
 */
export type ConnectionFailure =
  | 'CONNECTION_REFUSED'
  | 'HOST_NOT_FOUND'
  | 'CONNECT_TIMEOUT'
  | 'HOST_UNREACHABLE'
  | 'CONNECTION_RESET'
  | 'TIMEOUT'
  | 'TLS_FAILED'
  | 'NETWORK_ERROR';

export class NvgwConnectionError extends Error {
  override readonly name = 'NvgwConnectionError';
  readonly code: ConnectionFailure;
  readonly sent: boolean;
  readonly method: string;
  readonly url: string;

  constructor(init: { code: ConnectionFailure; message: string; sent: boolean; method: string; url: string; cause?: unknown }) {
    super(init.message, init.cause === undefined ? undefined : { cause: init.cause });
    this.code = init.code;
    this.sent = init.sent;
    this.method = init.method;
    this.url = init.url;
  }
}

const NOT_SENT: Record<string, ConnectionFailure> = {
  ECONNREFUSED: 'CONNECTION_REFUSED',
  ENOTFOUND: 'HOST_NOT_FOUND',
  EAI_AGAIN: 'HOST_NOT_FOUND',
  UND_ERR_CONNECT_TIMEOUT: 'CONNECT_TIMEOUT',
  EHOSTUNREACH: 'HOST_UNREACHABLE',
  ENETUNREACH: 'HOST_UNREACHABLE',
  EADDRNOTAVAIL: 'HOST_UNREACHABLE',
};

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|ERR_OSSL|EPROTO$)/;

/** Finds the system error code in a fetch/undici/node error and its causes. */
function errorCodeOf(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const name = (current as { name?: unknown }).name;
    if (name === 'TimeoutError' || name === 'AbortError') return 'TIMEOUT';
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Classifies a transport failure into a NvgwConnectionError. */
export function connectionErrorFrom(error: unknown, method: string, url: string, sentHint?: boolean): NvgwConnectionError {
  if (error instanceof NvgwConnectionError) return error;
  const code = errorCodeOf(error) ?? 'UNKNOWN';
  const target = new URL(url).host;
  const notSent = NOT_SENT[code];
  if (notSent) {
    const what: Record<ConnectionFailure, string> = {
      CONNECTION_REFUSED: `connection to ${target} refused; is the gateway running and listening there?`,
      HOST_NOT_FOUND: `cannot resolve ${new URL(url).hostname}`,
      CONNECT_TIMEOUT: `timed out connecting to ${target}`,
      HOST_UNREACHABLE: `${target} is unreachable`,
      CONNECTION_RESET: '',
      TIMEOUT: '',
      TLS_FAILED: '',
      NETWORK_ERROR: '',
    };
    return new NvgwConnectionError({ code: notSent, message: what[notSent], sent: false, method, url, cause: error });
  }
  if (TLS_CODES.test(code)) {
    const detail = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    return new NvgwConnectionError({ code: 'TLS_FAILED', message: `TLS with ${target} failed (${code}): ${detail}`, sent: sentHint ?? false, method, url, cause: error });
  }
  if (code === 'TIMEOUT') {
    return new NvgwConnectionError({ code: 'TIMEOUT', message: `no answer from ${target} in time (${method} ${new URL(url).pathname})`, sent: true, method, url, cause: error });
  }
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE' || code === 'UND_ERR_CLOSED') {
    return new NvgwConnectionError({ code: 'CONNECTION_RESET', message: `connection to ${target} closed before the answer arrived`, sent: sentHint ?? true, method, url, cause: error });
  }
  return new NvgwConnectionError({ code: 'NETWORK_ERROR', message: `request to ${target} failed: ${innermostMessage(error)}`, sent: sentHint ?? true, method, url, cause: error });
}

/** fetch says only "fetch failed"; the reason is in its cause chain. */
function innermostMessage(error: unknown): string {
  let message = error instanceof Error ? error.message : String(error);
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    message = current.message || message;
    current = current.cause;
  }
  return message;
}
