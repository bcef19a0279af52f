/**
 * Every error the control plane can report, with a stable code (undici style). The HTTP
 * status for each code is decided in one place, src/api/errors.ts; clients match on `code`.
 */
export const ErrorCode = {
  ValidationFailed: 'VALIDATION_FAILED',
  VsidOutOfRange: 'VSID_OUT_OF_RANGE',
  PrefixHostBitsSet: 'PREFIX_HOST_BITS_SET',
  VsidInOtherDomain: 'VSID_IN_OTHER_DOMAIN',
  DuplicateLookupRecord: 'DUPLICATE_LOOKUP_RECORD',
  CustomerAddressNotOnLink: 'CUSTOMER_ADDRESS_NOT_ON_LINK',
  UnknownReference: 'UNKNOWN_REFERENCE',
  StillReferenced: 'STILL_REFERENCED',
  AlreadyExists: 'ALREADY_EXISTS',
  KeyMismatch: 'KEY_MISMATCH',
  NotFound: 'NOT_FOUND',
  NoSuchRoute: 'NO_SUCH_ROUTE',
  PreconditionFailed: 'PRECONDITION_FAILED',
  MalformedJson: 'MALFORMED_JSON',
  MalformedRequest: 'MALFORMED_REQUEST',
  UnsupportedMediaType: 'UNSUPPORTED_MEDIA_TYPE',
  PayloadTooLarge: 'PAYLOAD_TOO_LARGE',
  Unauthorized: 'UNAUTHORIZED',
  StorageFailed: 'STORAGE_FAILED',
  DatapathDisabled: 'DATAPATH_DISABLED',
  // External networks and NAT (src/model/external.ts).
  ExternalAddressInUse: 'EXTERNAL_ADDRESS_IN_USE',
  ExternalPortInUse: 'EXTERNAL_PORT_IN_USE',
  InternalAddressInUse: 'INTERNAL_ADDRESS_IN_USE',
  ExternalNetworkInUse: 'EXTERNAL_NETWORK_IN_USE',
  DomainAlreadyConnected: 'DOMAIN_ALREADY_CONNECTED',
  InterfaceInUse: 'INTERFACE_IN_USE',
  Internal: 'INTERNAL',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** One problem with one field: `path` is a JSON-pointer-like location such as `lookupRecords/3/macAddress`. */
export interface ErrorDetail {
  path: string;
  problem: string;
}

export class NvgwError extends Error {
  readonly code: ErrorCode;
  readonly details: ErrorDetail[];

  constructor(code: ErrorCode, message: string, details: ErrorDetail[] = []) {
    super(message);
    this.name = 'NvgwError';
    this.code = code;
    this.details = details;
  }
}

/** A field-level problem found while parsing; collected so one response lists them all. */
export class FieldError {
  constructor(
    readonly code: ErrorCode,
    readonly path: string,
    readonly problem: string,
  ) {}
}

/**
 * Turns collected field errors into one NvgwError. The most specific code wins when every
 * problem shares it, so `VSID_OUT_OF_RANGE` is not hidden behind a generic code.
 */
export function toValidationError(errors: readonly FieldError[]): NvgwError {
  const codes = new Set(errors.map((e) => e.code));
  const code = codes.size === 1 ? [...codes][0]! : ErrorCode.ValidationFailed;
  const first = errors[0];
  const message =
    errors.length === 1 && first
      ? `${first.path}: ${first.problem}`
      : `${errors.length} problems, first: ${first ? `${first.path}: ${first.problem}` : 'none'}`;
  return new NvgwError(code, message, errors.map((e) => ({ path: e.path, problem: e.problem })));
}
