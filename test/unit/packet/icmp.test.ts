import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  createIcmpHeader,
  formatIcmpFragmentationNeeded,
  formatIcmpTimeExceeded,
  ICMP_DEST_UNREACHABLE,
  parseIcmp,
} from '../../../src/packet/icmp.js';
import { internetChecksum } from '../../../src/packet/ipv4.js';
import { hex, INNER_OFFSET, nvgreFrame } from './fixtures.js';

// The inner IPv4 packet of the NVGRE fixture (a TCP SYN, 40 bytes) and what an ICMP error
// quotes of it: the 20-byte header and the first 8 bytes of TCP (ports and sequence number).
const ORIGINAL_OFFSET = INNER_OFFSET + 14;
const QUOTE = '4500 0028 0001 4000 4006 26cd 0a000001 0a000002 04d2 0050 00000001';

describe('ICMP errors', () => {
  it('formats "fragmentation needed" with the next-hop MTU and the quoted header + 8 bytes', () => {
    const frame = nvgreFrame();
    const buf = Buffer.alloc(100);
    const length = formatIcmpFragmentationNeeded(buf, 0, frame, ORIGINAL_OFFSET, frame.length, 1458);
    assert.equal(length, 36);
    assert.equal(buf.subarray(0, length).toString('hex'), hex('03 04 f226 0000 05b2' + QUOTE).toString('hex'));
    assert.equal(internetChecksum(buf, 0, length), 0);
  });

  it('formats "time exceeded in transit" with the same quote', () => {
    const frame = nvgreFrame();
    const buf = Buffer.alloc(100);
    const length = formatIcmpTimeExceeded(buf, 0, frame, ORIGINAL_OFFSET, frame.length);
    assert.equal(buf.subarray(0, length).toString('hex'), hex('0b 00 efdc 00000000' + QUOTE).toString('hex'));
  });

  it('quotes IPv4 options too, since the sender needs the whole header to match the packet', () => {
    const original = hex('4600 0024 0001 0000 4011 0000 0a000001 0a000002 01010100 1388 0035 0010 0000');
    const buf = Buffer.alloc(100);
    const length = formatIcmpTimeExceeded(buf, 0, original, 0, original.length);
    assert.equal(length, 8 + 24 + 8);
    assert.deepEqual(buf.subarray(8, length), original.subarray(0, 32));
    assert.equal(internetChecksum(buf, 0, length), 0);
  });

  it('quotes no more than the original packet holds', () => {
    const original = hex('4500 0018 0001 0000 4001 0000 0a000001 0a000002 0800 f7ff');
    const buf = Buffer.alloc(100);
    // Total length 24: the header and 4 bytes, even though 8 are asked for and more bytes follow.
    const padded = Buffer.concat([original, Buffer.alloc(10, 0xee)]);
    assert.equal(formatIcmpTimeExceeded(buf, 0, padded, 0, padded.length), 8 + 24);
    assert.equal(internetChecksum(buf, 0, 32), 0);
  });

  it('parses type, code, checksum and the rest of the header', () => {
    const h = createIcmpHeader();
    assert.equal(parseIcmp(hex('03 04 f226 0000 05b2' + QUOTE), 0, h), 'ok');
    assert.deepEqual(h, { type: ICMP_DEST_UNREACHABLE, code: 4, checksum: 0xf226, rest: 1458 });
    assert.equal(parseIcmp(hex('0800 f7ff 0000'), 0, h), 'icmp-invalid');
  });
});
