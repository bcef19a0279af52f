import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ARP_REPLY, ARP_REQUEST, createArpPacket, formatArp, parseArp } from '../../../src/packet/arp.js';
import { hex } from './fixtures.js';

// "Who has 10.0.0.1? Tell 10.0.0.2", as a VM in the virtual subnet asks for its gateway.
const REQUEST = '0001 0800 06 04 0001 00155d0a0002 0a000002 000000000000 0a000001';

describe('parseArp / formatArp', () => {
  it('parses a request for the gateway address', () => {
    const p = createArpPacket();
    assert.equal(parseArp(hex(REQUEST), 0, p), 'ok');
    assert.deepEqual(p, {
      operation: ARP_REQUEST,
      senderMac: 0x00155d0a0002,
      senderIp: 0x0a000002,
      targetMac: 0,
      targetIp: 0x0a000001,
    });
  });

  it('formats the reply the gateway sends back', () => {
    const buf = Buffer.alloc(28);
    const length = formatArp(
      {
        operation: ARP_REPLY,
        senderMac: 0x00155d0a0001,
        senderIp: 0x0a000001,
        targetMac: 0x00155d0a0002,
        targetIp: 0x0a000002,
      },
      buf,
      0,
    );
    assert.equal(length, 28);
    const reply = hex('0001 0800 06 04 0002 00155d0a0001 0a000001 00155d0a0002 0a000002');
    assert.equal(buf.toString('hex'), reply.toString('hex'));
  });

  it('rejects a truncated packet, a non-Ethernet or non-IPv4 one, and unknown operations', () => {
    const p = createArpPacket();
    assert.equal(parseArp(hex(REQUEST).subarray(0, 27), 0, p), 'arp-invalid');
    assert.equal(parseArp(hex('0006' + REQUEST.slice(4)), 0, p), 'arp-invalid');
    assert.equal(parseArp(hex('0001 86dd' + REQUEST.slice(9)), 0, p), 'arp-invalid');
    assert.equal(parseArp(hex('0001 0800 06 10' + REQUEST.slice(15)), 0, p), 'arp-invalid');
    assert.equal(parseArp(hex('0001 0800 06 04 0003' + REQUEST.slice(20)), 0, p), 'arp-invalid');
  });

  it('round-trips any request or reply through format and parse', () => {
    const address = fc.integer({ min: 0, max: 0xffffffff });
    const mac = fc.integer({ min: 0, max: 0xffff_ffff_ffff });
    fc.assert(
      fc.property(fc.constantFrom(ARP_REQUEST, ARP_REPLY), mac, address, mac, address, (operation, sm, si, tm, ti) => {
        const packet = { operation, senderMac: sm, senderIp: si, targetMac: tm, targetIp: ti };
        const buf = new Uint8Array(30);
        formatArp(packet, buf, 2);
        const parsed = createArpPacket();
        assert.equal(parseArp(buf, 2, parsed), 'ok');
        assert.deepEqual(parsed, packet);
      }),
    );
  });
});
