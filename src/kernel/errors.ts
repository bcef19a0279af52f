/**
 * Errors of the kernel adapters, each with a stable code, the kernel's errno name where the
 * kernel answered, and the object it concerns ("route 192.168.1.0/24 table 1001 metric 0").
 */

export const KernelErrorCode = {
  /** The kernel rejected a netlink request; `errno` says why (EEXIST, ENODEV, ENOTSUP...). */
  NetlinkRejected: 'NETLINK_REJECTED',
  /** No answer to a netlink request within the timeout. */
  NetlinkTimeout: 'NETLINK_TIMEOUT',
  /** A dump changed under us (NLM_F_DUMP_INTR) and stayed inconsistent after every retry. */
  DumpInterrupted: 'DUMP_INTERRUPTED',
  /** A name the step refers to is not a link in this namespace. */
  LinkNotFound: 'LINK_NOT_FOUND',
  /** The `ip` fallback exited non-zero. */
  CommandFailed: 'COMMAND_FAILED',
  /** A /proc/sys write failed. */
  SysctlFailed: 'SYSCTL_FAILED',
  /** A failure injected into the fake kernel by a test. */
  Injected: 'INJECTED',
} as const;
export type KernelErrorCode = (typeof KernelErrorCode)[keyof typeof KernelErrorCode];

export class KernelError extends Error {
  readonly code: KernelErrorCode;
  readonly errno: string | undefined;

  constructor(code: KernelErrorCode, message: string, errno?: string) {
    super(message);
    this.name = 'KernelError';
    this.code = code;
    this.errno = errno;
  }
}

/** A kernel rejection, as both adapters raise it: `Request rejected: EEXIST` becomes errno EEXIST. */
export function rejected(errno: string, what: string): KernelError {
  return new KernelError(KernelErrorCode.NetlinkRejected, `${what}: kernel said ${errno}`, errno);
}

/**
 * Errors worth another try, and only these (kube-router's nlretry): the kernel was busy, the
 * socket buffer overflowed during a dump, or the dump was interrupted by a concurrent change.
 */
const TRANSIENT_ERRNOS = new Set(['EBUSY', 'EAGAIN', 'EINTR', 'ENOBUFS']);

export function isTransient(error: unknown): boolean {
  if (!(error instanceof KernelError)) return false;
  if (error.code === KernelErrorCode.DumpInterrupted) return true;
  return error.errno !== undefined && TRANSIENT_ERRNOS.has(error.errno);
}

/** errno name of an error, for errors from node (fs, sockets) as well as our own. */
export function errnoOf(error: unknown): string | undefined {
  if (error instanceof KernelError) return error.errno;
  if (typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string') {
    return error.code;
  }
  return undefined;
}
