// Hand-written frames shared by the packet tests. Each is typed out byte by byte from the
// RFCs, not produced by the code under test, so a formatter bug cannot hide in both.

/** Bytes from hex text; whitespace and newlines are ignored. */
export function hex(text: string): Buffer {
  return Buffer.from(text.replace(/\s+/g, ''), 'hex');
}

/**
 * An NVGRE frame as a Hyper-V host sends it: PA 192.168.10.1 -> 192.168.10.2, DF set,
 * VSID 5001 (0x001389), FlowID 0x2a, carrying a TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80.
 * All checksums are valid.
 */
export const NVGRE_FRAME_HEX = `
  00155d000001 00155d000002 0800
  4500 0052 1234 4000 402f 92f5 c0a80a01 c0a80a02
  2000 6558 0013892a
  00155d0a0001 00155d0a0002 0800
  4500 0028 0001 4000 4006 26cd 0a000001 0a000002
  04d2 0050 00000001 00000000 5002 7210 24ad 0000
`;

export const OUTER_IP_OFFSET = 14;
export const GRE_OFFSET = 34;
export const INNER_OFFSET = 42;
export const INNER_LENGTH = 54;

export function nvgreFrame(): Buffer {
  return hex(NVGRE_FRAME_HEX);
}
