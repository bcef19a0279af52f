// The rtnetlink bodies the adapter sends and the parts of the kernel's answers it reads,
// checked against the UAPI layouts (struct sizes and attribute numbers from linux/*.h) with
// a TLV reader written here, independent of the codec.
import assert from 'node:assert/strict';
import { endianness } from 'node:os';
import { describe, it } from 'node:test';
import {
  decodeAddress,
  decodeLink,
  decodeRoute,
  decodeRule,
  encodeAddress,
  encodeLinkSet,
  encodeNeighbour,
  encodeRoute,
  encodeRule,
  encodeVethCreate,
  encodeVrfCreate,
} from '../../../src/kernel/rtnetlink-codec.js';

const LE = endianness() === 'LE';
const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  if (LE) b.writeUInt16LE(n);
  else b.writeUInt16BE(n);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  if (LE) b.writeUInt32LE(n);
  else b.writeUInt32BE(n);
  return b;
};
const readU32 = (b: Buffer, o = 0): number => (LE ? b.readUInt32LE(o) : b.readUInt32BE(o));
const readU16 = (b: Buffer, o = 0): number => (LE ? b.readUInt16LE(o) : b.readUInt16BE(o));

/** One netlink attribute: len u16, type u16, payload, padded to 4. */
function tlv(type: number, payload: Buffer): Buffer {
  const pad = (4 - ((payload.length + 4) % 4)) % 4;
  return Buffer.concat([u16(payload.length + 4), u16(type), payload, Buffer.alloc(pad)]);
}

/** Attributes of a stream, type -> payload (NLA_F_NESTED and byte-order bits masked off). */
function attrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let o = 0;
  while (o + 4 <= buf.length) {
    const len = readU16(buf, o);
    const type = readU16(buf, o + 2) & 0x3fff;
    assert.ok(len >= 4 && o + len <= buf.length, `attribute ${type} at ${o} fits`);
    out.set(type, buf.subarray(o + 4, o + len));
    o += (len + 3) & ~3;
  }
  return out;
}

const one = (body: Uint8Array[]): Buffer => Buffer.concat(body);
const str = (b: Buffer | undefined): string => (b === undefined ? '' : b.subarray(0, b.indexOf(0) < 0 ? b.length : b.indexOf(0)).toString());

describe('rtnetlink requests', () => {
  it('encodes a veth pair as IFLA_LINKINFO { "veth", IFLA_INFO_DATA { VETH_INFO_PEER: ifinfomsg + peer name } }', () => {
    const msg = one(encodeVethCreate('nvgw-t5001', 'nvgw-d5001', 1458, '00155d001389'));
    assert.equal(msg.subarray(0, 16).toString('hex'), '00'.repeat(16), 'ifinfomsg: family, type, index, flags, change all zero (created down)');
    const top = attrs(msg.subarray(16));
    assert.equal(str(top.get(3)), 'nvgw-t5001', 'IFLA_IFNAME');
    assert.equal(readU32(top.get(4) as Buffer), 1458, 'IFLA_MTU');
    assert.equal(top.get(1)?.toString('hex'), '00155d001389', 'IFLA_ADDRESS');
    const info = attrs(top.get(18) as Buffer);
    assert.equal(str(info.get(1)), 'veth', 'IFLA_INFO_KIND');
    const peer = attrs(info.get(2) as Buffer).get(1) as Buffer;
    assert.equal(peer.subarray(0, 16).toString('hex'), '00'.repeat(16), 'the peer starts with its own ifinfomsg');
    const peerAttrs = attrs(peer.subarray(16));
    assert.equal(str(peerAttrs.get(3)), 'nvgw-d5001');
    assert.equal(readU32(peerAttrs.get(4) as Buffer), 1458);
  });

  it('encodes a VRF with its table in IFLA_VRF_TABLE', () => {
    const msg = one(encodeVrfCreate('nvgw-vrf-1001', 1001));
    const info = attrs(attrs(msg.subarray(16)).get(18) as Buffer);
    assert.equal(str(info.get(1)), 'vrf');
    assert.equal(readU32(attrs(info.get(2) as Buffer).get(1) as Buffer), 1001);
  });

  it('brings a link up with IFF_UP in both ifi_flags and ifi_change, and releases a master with index 0', () => {
    const msg = one(encodeLinkSet(7, { up: true, master: 0 }));
    assert.equal(readU32(msg, 4), 7, 'ifi_index');
    assert.equal(readU32(msg, 8), 1, 'ifi_flags IFF_UP');
    assert.equal(readU32(msg, 12), 1, 'ifi_change IFF_UP');
    assert.equal(readU32(attrs(msg.subarray(16)).get(10) as Buffer), 0, 'IFLA_MASTER');
  });

  it('marks an address as nvgw\'s with IFA_PROTO 78 and keeps its prefix route out with IFA_F_NOPREFIXROUTE', () => {
    const msg = one(encodeAddress({ index: 3, address: '192.168.1.1', prefixLength: 24, noPrefixRoute: true, protocol: 78 }));
    assert.deepEqual([...msg.subarray(0, 2)], [2, 24], 'AF_INET, prefixlen');
    assert.equal(readU32(msg, 4), 3);
    const a = attrs(msg.subarray(8));
    assert.equal(a.get(2)?.toString('hex'), 'c0a80101', 'IFA_LOCAL');
    assert.equal(readU32(a.get(8) as Buffer), 0x200, 'IFA_FLAGS');
    assert.deepEqual([...(a.get(11) ?? [])], [78], 'IFA_PROTO');
  });

  it('encodes a permanent neighbour with NUD_PERMANENT and its origin', () => {
    const msg = one(encodeNeighbour({ index: 3, address: '192.168.1.10', mac: '00155d0a8901', protocol: 78 }));
    assert.equal(readU16(msg, 8), 0x80, 'ndm_state NUD_PERMANENT');
    const a = attrs(msg.subarray(12));
    assert.equal(a.get(2)?.toString('hex'), '00155d0a8901', 'NDA_LLADDR');
    assert.deepEqual([...(a.get(12) ?? [])], [78], 'NDA_PROTOCOL');
  });

  it('puts a table above 255 in RTA_TABLE only, and a table that fits in rtm_table as well', () => {
    const big = one(encodeRoute({ table: 1001, prefix: '0.0.0.0/0', metric: 4278198272, type: 'unreachable', scope: 'universe', protocol: 78 }, false));
    assert.deepEqual([...big.subarray(0, 8)], [2, 0, 0, 0, 0, 78, 0, 7], 'family, dst_len 0, table 0, protocol 78, scope universe, RTN_UNREACHABLE');
    const a = attrs(big.subarray(12));
    assert.equal(readU32(a.get(15) as Buffer), 1001, 'RTA_TABLE');
    assert.equal(readU32(a.get(6) as Buffer), 4278198272, 'RTA_PRIORITY');
    assert.equal(a.has(1), false, 'no RTA_DST for the default route');
    const main = one(encodeRoute({ table: 254, prefix: '10.2.0.0/16', metric: 0, type: 'unicast', scope: 'universe', protocol: 78, gateway: '10.1.1.1', oif: 2 }, false));
    assert.equal(main[4], 254);
    assert.equal(attrs(main.subarray(12)).get(5)?.toString('hex'), '0a010101', 'RTA_GATEWAY');
  });

  it('deletes a route with its protocol and any scope, so another protocol\'s route at the key is safe', () => {
    const msg = one(encodeRoute({ table: 255, prefix: '192.168.1.1/32', metric: 0, type: 'local', scope: 'host', protocol: 2, oif: 4, source: '192.168.1.1' }, true));
    assert.deepEqual([...msg.subarray(4, 8)], [255, 2, 255, 2], 'table local, protocol kernel, scope NOWHERE, RTN_LOCAL');
    assert.equal(attrs(msg.subarray(12)).has(7), false, 'no RTA_PREFSRC in a delete');
  });

  it('encodes `iif X lookup T` and `fwmark M/0xffffffff lookup T` with FRA_PROTOCOL', () => {
    const iif = one(encodeRule({ priority: 1000, table: 1001, protocol: 78, iif: 'nvgw-t5001' }));
    assert.equal(iif[7], 1, 'FR_ACT_TO_TBL');
    const a = attrs(iif.subarray(12));
    assert.equal(str(a.get(3)), 'nvgw-t5001');
    assert.equal(readU32(a.get(6) as Buffer), 1000);
    assert.equal(readU32(a.get(15) as Buffer), 1001);
    assert.deepEqual([...(a.get(21) ?? [])], [78]);
    const mark = attrs(one(encodeRule({ priority: 1100, table: 1001, protocol: 78, fwmark: 1001 })).subarray(12));
    assert.equal(readU32(mark.get(10) as Buffer), 1001);
    assert.equal(readU32(mark.get(16) as Buffer), 0xffffffff);
  });
});

describe('rtnetlink answers', () => {
  const ifinfomsg = (index: number, flags: number): Buffer => Buffer.concat([Buffer.alloc(4), u32(index), u32(flags), u32(0)]);

  it('reads a tun device in tap mode as a tap', () => {
    const linkinfo = Buffer.concat([tlv(1, Buffer.from('tun\0')), tlv(2, tlv(3, Buffer.from([2])))]);
    const msg = Buffer.concat([ifinfomsg(9, 1), tlv(3, Buffer.from('nvgw-t5001\0')), tlv(4, u32(1458)), tlv(18, linkinfo)]);
    assert.deepEqual(decodeLink(msg), { index: 9, name: 'nvgw-t5001', kind: 'tap', linkElsewhere: false, mac: null, mtu: 1458, up: true });
  });

  it('knows when a veth peer index belongs to another namespace', () => {
    const msg = Buffer.concat([ifinfomsg(5, 0), tlv(3, Buffer.from('nvgw-t5001\0')), tlv(5, u32(2)), tlv(37, u32(0)), tlv(18, tlv(1, Buffer.from('veth\0')))]);
    const link = decodeLink(msg);
    assert.equal(link.kind, 'veth');
    assert.equal(link.linkIndex, 2);
    assert.equal(link.linkElsewhere, true);
  });

  it('reads IFA_PROTO, which the netlink package\'s own parser drops', () => {
    const msg = Buffer.concat([Buffer.from([2, 24, 0x80, 0]), u32(3), tlv(1, Buffer.from([10, 1, 1, 41])), tlv(2, Buffer.from([10, 1, 1, 41])), tlv(8, u32(0x80)), tlv(11, Buffer.from([78]))]);
    assert.deepEqual(decodeAddress(msg), { index: 3, address: '10.1.1.41', prefixLength: 24, protocol: 78, noPrefixRoute: false });
  });

  it('reads the table from RTA_TABLE and names the route type', () => {
    const msg = Buffer.concat([Buffer.from([2, 24, 0, 0, 252, 78, 253, 1]), u32(0), tlv(15, u32(1001)), tlv(1, Buffer.from([192, 168, 1, 0])), tlv(4, u32(3)), tlv(7, Buffer.from([192, 168, 1, 1]))]);
    assert.deepEqual(decodeRoute(msg), {
      table: 1001,
      prefix: '192.168.1.0/24',
      metric: 0,
      type: 'unicast',
      protocol: 78,
      scope: 'link',
      oif: 3,
      source: '192.168.1.1',
      multipath: false,
    });
  });

  it('treats the suppressors the kernel reports as -1 on every rule as unset, and a source prefix as a foreign selector', () => {
    const hdr = (srcLen: number): Buffer => Buffer.concat([Buffer.from([2, 0, srcLen, 0, 0, 0, 0, 1]), u32(0)]);
    const plain = Buffer.concat([hdr(0), tlv(15, u32(1001)), tlv(14, u32(0xffffffff)), tlv(21, Buffer.from([78])), tlv(6, u32(1000)), tlv(3, Buffer.from('nvgw-t5001\0'))]);
    assert.deepEqual(decodeRule(plain), { priority: 1000, protocol: 78, table: 1001, action: 'lookup', otherSelectors: false, iif: 'nvgw-t5001' });
    const withSource = Buffer.concat([hdr(8), tlv(15, u32(1001)), tlv(2, Buffer.from([10, 0, 0, 0])), tlv(21, Buffer.from([78])), tlv(6, u32(1000))]);
    assert.equal(decodeRule(withSource)?.otherSelectors, true);
  });
});
