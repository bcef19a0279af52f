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
  MALFORMED_JSON: 400,
  NOT_FOUND: 404,
  PRECONDITION_FAILED: 412,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  UNAUTHORIZED: 401,
  STORAGE_FAILED: 503,
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

/** body-parser's error types, translated into our codes. */
function fromBodyParser(error: { type?: string; message?: string; limit?: number }): NvgwError | undefined {
  switch (error.type) {
    case 'entity.too.large':
      return new NvgwError(ErrorCode.PayloadTooLarge, `request body is larger than the limit of ${error.limit ?? '?'} bytes (api.bodyLimit)`);
    case 'entity.parse.failed':
      return new NvgwError(ErrorCode.MalformedJson, `request body is not valid JSON: ${error.message ?? ''}`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new NvgwError(ErrorCode.UnsupportedMediaType, error.message ?? 'unsupported encoding');
    default:
      return undefined;
  }
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err: unknown, _req, res, _next) => {
    let error = err instanceof NvgwError ? err : fromBodyParser(err as { type?: string });
    if (!error) {
      logger.error({ err }, 'unexpected error in API handler');
      error = new NvgwError(ErrorCode.Internal, 'internal error; see the gateway log');
    } else if (error.code === ErrorCode.StorageFailed) {
      logger.error({ err: error }, 'state store failed; the request changed nothing');
    }
    res.status(HTTP_STATUS[error.code]).json(errorBody(error));
  };
}
