/**
 * The one place that maps stable error codes to HTTP statuses, and the one error body
 * every route returns: {code, message, details: [{path, problem}]}.
 */
import type { ErrorRequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ErrorDetail } from '../model/errors.js';
import { ErrorCode, NvgwError } from '../model/errors.js';

export const HTTP_STATUS: Record<ErrorCode, number> = {
  VALIDATION_FAILED: 422,
  VSID_OUT_OF_RANGE: 422,
  PREFIX_HOST_BITS_SET: 422,
  CUSTOMER_ADDRESS_NOT_ON_LINK: 422,
  UNKNOWN_REFERENCE: 422,
  VSID_IN_OTHER_DOMAIN: 409,
  DUPLICATE_LOOKUP_RECORD: 409,
  STILL_REFERENCED: 409,
  ALREADY_EXISTS: 409,
  KEY_MISMATCH: 400,
  MALFORMED_REQUEST: 400,
  MALFORMED_JSON: 400,
  NOT_FOUND: 404,
  NO_SUCH_ROUTE: 404,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  STORAGE_FAILED: 503,
  DATAPATH_DISABLED: 501,
  EXTERNAL_ADDRESS_IN_USE: 409,
  EXTERNAL_PORT_IN_USE: 409,
  INTERNAL_ADDRESS_IN_USE: 409,
  EXTERNAL_NETWORK_IN_USE: 409,
  DOMAIN_ALREADY_CONNECTED: 409,
  INTERFACE_IN_USE: 409,
  INTERNAL: 500,
};

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details: ErrorDetail[];
}

export function errorBody(error: NvgwError): ErrorBody {
  return { code: error.code, message: error.message, details: error.details };
}

/** Errors of the HTTP layer (body-parser types, URL decoding), translated into our codes. */
function fromHttpLayer(error: { type?: string; message?: string; limit?: number }): NvgwError | undefined {
  switch (error.type) {
    case 'entity.too.large':
      return new NvgwError(ErrorCode.PayloadTooLarge, `request body is larger than the limit of ${error.limit ?? '?'} bytes (api.bodyLimit)`);
    case 'entity.parse.failed':
      return new NvgwError(ErrorCode.MalformedJson, `request body is not valid JSON: ${error.message ?? ''}`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new NvgwError(ErrorCode.UnsupportedMediaType, error.message ?? 'unsupported encoding');
    default: {
      // Any other client error the HTTP layer raises (a gzip body that is not gzip, a URL
      // with broken percent-encoding) is still the client's: a 400, never a 500.
      const status = (error as { status?: number; statusCode?: number }).status ?? (error as { statusCode?: number }).statusCode;
      if (error instanceof URIError) return new NvgwError(ErrorCode.MalformedRequest, `the URL is not valid percent-encoding: ${error.message}`);
      if (typeof status === 'number' && status >= 400 && status < 500) return new NvgwError(ErrorCode.MalformedRequest, `the request could not be read: ${error.message ?? 'bad request'}`);
      return undefined;
    }
  }
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    let error = err instanceof NvgwError ? err : err && typeof err === 'object' ? fromHttpLayer(err as { type?: string }) : undefined;
    if (!error) {
      logger.error({ err }, 'unexpected error in API handler');
      error = new NvgwError(ErrorCode.Internal, 'internal error; see the gateway log');
    } else if (error.code === ErrorCode.StorageFailed) {
      logger.error({ err: error }, 'state store failed; the request changed nothing');
    }
    // RFC 9110 section 15.5.2 / RFC 6750 section 3: a 401 names the scheme to use.
    if (error.code === ErrorCode.Unauthorized) res.set('WWW-Authenticate', 'Bearer realm="nvgw"');
    // A failed commit changed nothing; the client may simply try again.
    if (error.code === ErrorCode.StorageFailed) res.set('Retry-After', '1');
    res.status(HTTP_STATUS[error.code]).json(errorBody(error));
  };
}
