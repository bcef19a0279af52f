import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  BROADCAST_MAC,
  createEthernetHeader,
  formatEthernet,
  isMulticastMac,
  macFromString,
  macToString,
  parseEthernet,
  readMac,
  writeMac,
} from '../../../src/packet/ethernet.js';
import { hex } from './fixtures.js';

const mac = fc.integer({ min: 0, max: 0xffff_ffff_ffff });

describe('parseEthernet / formatEthernet', () => {
  it('parses an untagged IPv4 frame header', () => {
    const h = createEthernetHeader();
    assert.equal(parseEthernet(hex('00155d000001 00155d000002 0800 45'), 0, h), 'ok');
    assert.deepEqual(h, {
      dst: 0x00155d000001,
      src: 0x00155d000002,
      tpid: 0,
      tci: 0,
      ethertype: 0x0800,
      headerLength: 14,
    });
  });

  it('recognises an 802.1Q tag and reports the ethertype behind it', () => {
    const h = createEthernetHeader();
    assert.equal(parseEthernet(hex('ffffffffffff 00155d000002 8100 a064 0806'), 0, h), 'ok');
    assert.deepEqual(h, {
      dst: BROADCAST_MAC,
      src: 0x00155d000002,
      tpid: 0x8100,
      tci: 0xa064,
      ethertype: 0x0806,
      headerLength: 18,
    });
  });

  it('recognises an 802.1ad service tag', () => {
    const h = createEthernetHeader();
    assert.equal(parseEthernet(hex('00155d000001 00155d000002 88a8 000a 0800'), 0, h), 'ok');
    assert.equal(h.tpid, 0x88a8);
    assert.equal(h.tci, 10);
    assert.equal(h.ethertype, 0x0800);
  });

  it('rejects a frame that ends inside the header or inside the tag', () => {
    const h = createEthernetHeader();
    assert.equal(parseEthernet(hex('00155d000001 00155d000002 08'), 0, h), 'truncated-ethernet');
    assert.equal(parseEthernet(hex('00155d000001 00155d000002 8100 0064'), 0, h), 'truncated-ethernet');
    assert.equal(parseEthernet(hex('00155d000001 00155d000002 0800 ffff'), 0, h, 13), 'truncated-ethernet');
  });

  it('round-trips headers with and without a tag through format and parse', () => {
    fc.assert(
      fc.property(
        mac,
        mac,
        fc.constantFrom(0, 0x8100, 0x88a8),
        fc.integer({ min: 0, max: 0xffff }),
        fc.integer({ min: 0x0600, max: 0xffff }).filter((t) => t !== 0x8100 && t !== 0x88a8),
        (dst, src, tpid, tci, ethertype) => {
          const h = { dst, src, tpid, tci: tpid === 0 ? 0 : tci, ethertype, headerLength: tpid === 0 ? 14 : 18 };
          const buf = new Uint8Array(20);
          assert.equal(formatEthernet(h, buf, 1), h.headerLength);
          const parsed = createEthernetHeader();
          assert.equal(parseEthernet(buf, 1, parsed), 'ok');
          assert.deepEqual(parsed, h);
        },
      ),
    );
  });
});

describe('MAC helpers', () => {
  it('reads and writes the 6 bytes of a MAC as a 48-bit number', () => {
    const buf = hex('00 00155d0a0b0c 00');
    assert.equal(readMac(buf, 1), 0x00155d0a0b0c);
    assert.equal(readMac(hex('ffffffffffff'), 0), 0xffff_ffff_ffff);
    const out = Buffer.alloc(8);
    writeMac(0xfeedfacecafe, out, 1);
    assert.equal(out.toString('hex'), '00feedfacecafe00');
  });

  it('prints the canonical form: 12 lowercase hex digits, no separators', () => {
    assert.equal(macToString(0x00155d0a0b0c), '00155d0a0b0c');
    assert.equal(macToString(0xfeedfacecafe), 'feedfacecafe');
    assert.equal(macToString(0), '000000000000');
  });

  it('parses 12 hex digits in either case and refuses anything else', () => {
    assert.equal(macFromString('00155D0A0B0C'), 0x00155d0a0b0c);
    for (const bad of ['', '00:15:5d:0a:0b:0c', '00155d0a0b0', '00155d0a0b0c0', '00155d0a0b0g', ' 00155d0a0b0c']) {
      assert.throws(() => macFromString(bad), RangeError, bad);
    }
  });

  it('round-trips any MAC through bytes and text', () => {
    fc.assert(
      fc.property(mac, (m) => {
        const buf = new Uint8Array(6);
        writeMac(m, buf, 0);
        assert.equal(readMac(buf, 0), m);
        assert.equal(macFromString(macToString(m)), m);
      }),
    );
  });

  it('tells group (multicast and broadcast) addresses from unicast ones by the I/G bit', () => {
    assert.equal(isMulticastMac(BROADCAST_MAC), true);
    assert.equal(isMulticastMac(0x01005e000001), true);
    assert.equal(isMulticastMac(0x333300000001), true);
    assert.equal(isMulticastMac(0x00155d000001), false);
    assert.equal(isMulticastMac(0x02155d000001), false);
  });
});
