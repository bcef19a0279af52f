import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LINKTYPE_ETHERNET, LINKTYPE_RAW, readPcap } from '../../support/pcap.js';
import { hex } from './fixtures.js';

describe('readPcap (test support)', () => {
  it('reads a big-endian, microsecond file', () => {
    const file = hex(`
      a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001
      5f5e1000 000f4240 00000003 0000003c aabbcc
      5f5e1001 00000001 00000000 00000000
    `);
    const packets = readPcap(file);
    assert.equal(packets.length, 2);
    assert.deepEqual(packets[0], {
      linkType: LINKTYPE_ETHERNET,
      data: hex('aabbcc'),
      originalLength: 60,
      timestampNs: 1_600_000_000_000_000_000n + 1_000_000_000n,
    });
    assert.equal(packets[1]?.data.length, 0);
  });

  it('reads a little-endian, nanosecond file with raw-IP link type', () => {
    const file = hex(`
      4d3cb2a1 0200 0400 00000000 00000000 ffff0000 65000000
      00105e5f 15cd5b07 02000000 02000000 4500
    `);
    const [packet] = readPcap(file);
    assert.equal(packet?.linkType, LINKTYPE_RAW);
    assert.equal(packet?.timestampNs, 1_600_000_000_123_456_789n);
    assert.deepEqual(packet?.data, hex('4500'));
  });

  it('refuses pcapng and truncated files rather than returning partial data', () => {
    assert.throws(() => readPcap(hex('0a0d0d0a 0000001c 4d3c2b1a' + '00'.repeat(16))), /pcapng/);
    assert.throws(() => readPcap(hex('a1b2c3d4 0002 0004')), /shorter/);
    assert.throws(
      () => readPcap(hex('a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001 00000000 00000000 00000004 00000004 aa')),
      /truncated packet data/,
    );
  });
});
