// Network-order (big-endian) reads and writes, private to the codecs in this folder: nothing
// outside src/packet sees raw wire bytes.
//
// With noUncheckedIndexedAccess a Uint8Array element is `number | undefined`. Every caller
// checks the length before it reads, so `?? 0` never changes a value; it only keeps the
// result a small integer (an out-of-range read would otherwise turn the arithmetic into NaN).

export function readU16(buf: Uint8Array, offset: number): number {
  return ((buf[offset] ?? 0) << 8) | (buf[offset + 1] ?? 0);
}

export function readU32(buf: Uint8Array, offset: number): number {
  return (
    (((buf[offset] ?? 0) << 24) |
      ((buf[offset + 1] ?? 0) << 16) |
      ((buf[offset + 2] ?? 0) << 8) |
      (buf[offset + 3] ?? 0)) >>>
    0
  );
}

export function writeU16(value: number, buf: Uint8Array, offset: number): void {
  buf[offset] = value >>> 8;
  buf[offset + 1] = value;
}

export function writeU32(value: number, buf: Uint8Array, offset: number): void {
  buf[offset] = value >>> 24;
  buf[offset + 1] = value >>> 16;
  buf[offset + 2] = value >>> 8;
  buf[offset + 3] = value;
}
