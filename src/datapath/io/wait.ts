/**
 * Waiting for input on several ports at once: poll(2) on their descriptors, in the
 * calling thread. The data path's worker blocks here between batches; the API's event
 * loop never calls it.
 */
import type { FramePort } from './frame-port.js';
import { loadNative } from './native.js';

/** The most ports one call waits on: the answer is a 32-bit mask. */
export const WAIT_MAX_PORTS = 32;

/** A port with no descriptor (the in-memory fake) says itself whether it has frames. */
interface SoftwarePort {
  readonly fd: number;
  pendingFrames(): number;
}

const isSoftwarePort = (port: FramePort): port is FramePort & SoftwarePort =>
  port.fd < 0 && typeof (port as Partial<SoftwarePort>).pendingFrames === 'function';

// Reused on every call (per thread: each worker has its own module instance).
const fds = new Int32Array(WAIT_MAX_PORTS);

/**
 * Waits up to timeoutMs (negative: forever; 0: just look) until one of `ports` has
 * input, and returns a mask: bit i set when ports[i] is readable. A port whose
 * descriptor reports an error (its link went down) also sets its bit, once, so the
 * caller looks at it. 0 means the timeout passed (or a signal interrupted the wait).
 */
export function waitReadable(ports: readonly FramePort[], timeoutMs: number): number {
  if (ports.length > WAIT_MAX_PORTS) throw new RangeError(`waitReadable takes at most ${WAIT_MAX_PORTS} ports`);
  let soft = 0;
  let hardCount = 0;
  for (let i = 0; i < ports.length; i++) {
    const port = ports[i] as FramePort;
    if (isSoftwarePort(port)) {
      if (port.pendingFrames() > 0) soft |= 1 << i;
      fds[i] = -1;
    } else {
      fds[i] = port.fd;
      hardCount++;
    }
  }
  if (hardCount === 0) return soft >>> 0;
  const mask = loadNative().waitReadable(fds, ports.length, soft !== 0 ? 0 : timeoutMs);
  return (mask | soft) >>> 0;
}
