// Real captures written by an independent implementation (PacketDotNet's test corpus); see
// the README.md next to them for where they come from and the verdict each one requires.
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Verdict } from '../../../src/packet/drop-reasons.js';
import { createEthernetHeader, parseEthernet } from '../../../src/packet/ethernet.js';
import { createIpv4Header, ipv4ChecksumValid, parseIpv4 } from '../../../src/packet/ipv4.js';
import { createNvgreFrame, decodeNvgreFrame, decodeNvgreIpv4 } from '../../../src/packet/nvgre.js';
import type { NvgreFrame } from '../../../src/packet/nvgre.js';
import { LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_RAW, readPcap } from '../../support/pcap.js';
import type { PcapPacket } from '../../support/pcap.js';
import { sharedDir } from '../../support/paths.js';

// In CI and in the lab the shared folder sits beside the checkout. A missing folder fails
// the tests rather than skipping them: a skipped interoperability check is a silent pass.
const CAPTURES = path.join(sharedDir, 'captures');

function capture(name: string): PcapPacket[] {
  return readPcap(path.join(CAPTURES, name));
}

/** Decodes a captured packet through the entry point its link type calls for. */
function decode(packet: PcapPacket, out: NvgreFrame = createNvgreFrame()): Verdict {
  switch (packet.linkType) {
    case LINKTYPE_ETHERNET:
      return decodeNvgreFrame(packet.data, 0, out);
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
      return decodeNvgreIpv4(packet.data, 0, out);
    default:
      throw new Error(`unexpected link type ${packet.linkType}`);
  }
}

describe('real captures', () => {
  it('finds every capture in the shared folder, all with Ethernet link type', () => {
    const names = ['gre_nvgre.pcap', 'gre_all_options.pcap', 'gre_custom_protocol.pcap', 'gre_ipv6.pcap', 'vxlan.pcap'];
    for (const name of names) {
      const packets = capture(name);
      assert.ok(packets.length > 0, name);
      for (const p of packets) assert.equal(p.linkType, LINKTYPE_ETHERNET, name);
    }
  });

  it('accepts gre_nvgre.pcap with VSID 1193046 and FlowID 2, the inner frame intact', () => {
    const [packet, ...rest] = capture('gre_nvgre.pcap');
    assert.ok(packet);
    assert.equal(rest.length, 0);
    const out = createNvgreFrame();
    assert.equal(decode(packet, out), 'ok');
    assert.equal(out.key, 0x12345602);
    assert.equal(out.vsid, 1193046);
    assert.equal(out.flowId, 2);
    assert.equal(out.outerSrcIp, 0x64001101);
    assert.equal(out.outerDstIp, 0x64001102);

    // The inner frame is every byte after the 8-byte NVGRE header, untouched.
    assert.equal(out.innerOffset, 14 + 20 + 8);
    assert.equal(out.innerOffset + out.innerLength, packet.data.length);
    assert.equal(out.innerDstMac, 0xaabb00001002);
    assert.equal(out.innerSrcMac, 0xaabb00001001);
    const eth = createEthernetHeader();
    assert.equal(parseEthernet(packet.data, out.innerOffset, eth), 'ok');
    assert.equal(eth.ethertype, 0x0800);
    const ip = createIpv4Header();
    assert.equal(parseIpv4(packet.data, out.innerOffset + 14, ip), 'ok');
    assert.equal(ip.protocol, 6);
    assert.equal(ip.src, 0x0a000001);
    assert.equal(ip.dst, 0x0a000002);
    assert.equal(14 + ip.totalLength, out.innerLength);
    const tcp = out.innerOffset + 14 + ip.headerLength;
    assert.equal(packet.data.readUInt16BE(tcp), 1001);
    assert.equal(packet.data.readUInt16BE(tcp + 2), 1002);
  });

  it('accepts gre_nvgre.pcap although its outer IPv4 checksum is zero, which only an explicit check rejects', () => {
    const [packet] = capture('gre_nvgre.pcap');
    assert.ok(packet);
    const out = createNvgreFrame();
    assert.equal(decode(packet, out), 'ok');
    assert.equal(packet.data.readUInt16BE(out.ipOffset + 10), 0);
    assert.equal(ipv4ChecksumValid(packet.data, out.ipOffset, out.ipHeaderLength), false);
  });

  it('rejects every frame of gre_all_options.pcap for its checksum bit, the first rule it breaks', () => {
    const packets = capture('gre_all_options.pcap');
    // The README speaks of 2 frames; the file holds 10 (5 in each direction).
    assert.equal(packets.length, 10);
    for (const packet of packets) {
      assert.equal(decode(packet), 'gre-checksum-present');
      // Behind the checksum bit it breaks two more rules, each caught in turn.
      const gre = 14 + 20;
      assert.equal(packet.data.readUInt16BE(gre), 0xb000);
      const withoutChecksum = Buffer.from(packet.data);
      withoutChecksum.writeUInt16BE(0x3000, gre);
      assert.equal(decode({ ...packet, data: withoutChecksum }), 'gre-sequence-present');
      withoutChecksum.writeUInt16BE(0x2000, gre);
      assert.equal(decode({ ...packet, data: withoutChecksum }), 'gre-wrong-protocol');
    }
  });

  it('rejects gre_custom_protocol.pcap, which has no key', () => {
    for (const packet of capture('gre_custom_protocol.pcap')) assert.equal(decode(packet), 'gre-no-key');
  });

  it('rejects gre_ipv6.pcap, which has no key', () => {
    for (const packet of capture('gre_ipv6.pcap')) assert.equal(decode(packet), 'gre-no-key');
  });

  it('stops vxlan.pcap at the outer IPv4 protocol, before the NVGRE decoder', () => {
    for (const packet of capture('vxlan.pcap')) assert.equal(decode(packet), 'not-gre');
  });
});
