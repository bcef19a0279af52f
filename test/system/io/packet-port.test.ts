/**
 * The AF_PACKET port against the real kernel: a veth pair between two fresh namespaces,
 * the port in namespace a, the kernel (UDP sockets) or a second port in namespace b.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { openPacketPort } from '../../../src/datapath/io/packet-port.js';
import { isPortOpenError } from '../../../src/datapath/io/native.js';
import type { Agent } from './support/agent-client.js';
import { AgentOperationError } from './support/agent-client.js';
import { arpRequest, greFrame, hexHas, toHex, udpFrame } from './support/frames.js';
import { isRoot, Lab, leftoverNamespaces } from './support/lab.js';

/** dist/, where the compiled sources live beside this compiled test. */
const distRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

interface Received {
  total: number;
  batches: number[];
  frames: { length: number; hex: string }[];
}

describe('AF_PACKET port', { skip: !isRoot() && 'needs root (network namespaces)' }, () => {
  let lab: Lab;
  let a: Agent;
  let b: Agent;

  before(async () => {
    lab = Lab.create('pkt');
    a = await lab.agent('a');
    b = await lab.agent('b');
  });

  after(async () => {
    await lab?.destroy();
    assert.deepEqual(leftoverNamespaces().filter((ns) => ns.includes('-pkt-')), []);
  });

  it('receives frames the peer kernel sends, several per receive() call', async () => {
    const opened = await a.request<{ fd: number; frameCapacity: number; mac: string }>('openPacket', { id: 'rx', ifname: 'p0' });
    assert.ok(opened.fd >= 0);
    assert.equal(opened.frameCapacity, 1514);
    assert.equal(opened.mac, lab.macA.replaceAll(':', ''));
    const count = 300;
    await b.request('udpSend', { address: lab.addressA, port: 9, count, prefix: 'nvgw-rx', size: 24 });
    const got = await a.request<Received>('receive', { id: 'rx', expect: count, timeoutMs: 5000, keep: 2000 });
    const udp = got.frames.filter((f) => hexHas(f.hex, 'nvgw-rx-'));
    assert.equal(udp.length, count, `all ${count} datagrams arrive (got ${udp.length})`);
    for (let i = 0; i < count; i += 37) assert.ok(udp.some((f) => hexHas(f.hex, `nvgw-rx-${i}.`)), `datagram ${i}`);
    assert.ok(
      got.batches.some((n) => n > 1),
      `frames come in batches, not one per call: ${JSON.stringify(got.batches)}`,
    );
    // PACKET_IGNORE_OUTGOING: namespace a's own replies (ARP, ICMP port unreachable) are
    // sent from p0's MAC and must not come back in.
    const fromSelf = got.frames.filter((f) => f.hex.slice(12, 24) === lab.macA.replaceAll(':', ''));
    assert.deepEqual(fromSelf, []);
    const stats = await a.request<Record<string, number>>('stats', { id: 'rx' });
    assert.equal(stats.rxPackets, got.total);
    assert.equal(stats.rxKernelDrops, 0);
    await a.request('close', { id: 'rx' });
  });

  it('hands a lone frame over at once (frames mode), where a block ring would hold it until its block times out', async () => {
    await a.request('openPacket', { id: 'now', ifname: 'p0' });
    await a.request('openPacket', { id: 'late', ifname: 'p0', options: { rxMode: 'blocks', rxBlockTimeoutMs: 800 } });
    await b.request('openPacket', { id: 'gen1', ifname: 'p1' });
    const frame = toHex(udpFrame({ srcMac: lab.macB, dstMac: lab.macA, srcIp: lab.addressB, dstIp: lab.addressA, srcPort: 1, dstPort: 9, payload: 'lone-frame' }));
    await b.request('send', { id: 'gen1', frames: [frame] });
    const timed = async (id: string) => {
      const started = performance.now();
      const got = await a.request<Received>('receive', { id, expect: 1, timeoutMs: 3000 });
      return { ms: performance.now() - started, found: got.frames.some((f) => hexHas(f.hex, 'lone-frame')) };
    };
    const now = await timed('now');
    const late = await timed('late');
    assert.ok(now.found && late.found, 'both rings got the frame');
    assert.ok(now.ms < 250, `frames mode took ${now.ms.toFixed(0)} ms`);
    assert.ok(late.ms + now.ms > 400, `blocks mode handed the frame over after ${late.ms.toFixed(0)} ms, before its 800 ms block timeout`);
    for (const id of ['now', 'late']) await a.request('close', { id });
    await b.request('close', { id: 'gen1' });
  });

  it('sends frames written into reserved TX slots, and the peer kernel delivers them', async () => {
    await b.request('udpBind', { sock: 'u', address: lab.addressB, port: 5000 });
    await a.request('openPacket', { id: 'tx', ifname: 'p0' });
    const count = 100;
    const frames = Array.from({ length: count }, (_, i) =>
      toHex(
        udpFrame({
          srcMac: lab.macA, dstMac: lab.macB, srcIp: lab.addressA, dstIp: lab.addressB,
          srcPort: 4000, dstPort: 5000, payload: `nvgw-tx-${i}`,
        }),
      ),
    );
    const sent = await a.request<{ reserved: number }>('send', { id: 'tx', frames });
    assert.equal(sent.reserved, count);
    const got = await b.request<{ messages: string[] }>('udpCollect', { sock: 'u', expect: count, timeoutMs: 3000 });
    assert.deepEqual(
      [...got.messages].sort(),
      frames.map((_, i) => `nvgw-tx-${i}`).sort(),
    );
    const stats = await a.request<Record<string, number>>('stats', { id: 'tx' });
    assert.equal(stats.txPackets, count);
    assert.equal(stats.txErrors, 0);
    assert.equal(stats.txRingFull, 0);
    await a.request('close', { id: 'tx' });
  });

  it('counts a frame with an impossible length as a TX error and still sends the rest', async () => {
    await b.request('udpBind', { sock: 'u2', address: lab.addressB, port: 5002 });
    await a.request('openPacket', { id: 'bad', ifname: 'p0' });
    const good = (i: number): string =>
      toHex(udpFrame({ srcMac: lab.macA, dstMac: lab.macB, srcIp: lab.addressA, dstIp: lab.addressB, srcPort: 4000, dstPort: 5002, payload: `ok-${i}` }));
    // 8 bytes: shorter than an Ethernet header; the kernel would refuse it.
    await a.request('send', { id: 'bad', frames: [good(0), '0102030405060708', good(1)] });
    const got = await b.request<{ messages: string[] }>('udpCollect', { sock: 'u2', expect: 2, timeoutMs: 3000 });
    assert.deepEqual([...got.messages].sort(), ['ok-0', 'ok-1']);
    const stats = await a.request<Record<string, number>>('stats', { id: 'bad' });
    assert.equal(stats.txPackets, 2);
    assert.equal(stats.txErrors, 1);
    await a.request('close', { id: 'bad' });
  });

  it('keeps traffic the fabric filter does not match out of the ring', async () => {
    await a.request('openPacket', { id: 'f', ifname: 'p0', fabricFilterFor: ['198.18.250.1', lab.addressA] });
    await b.request('openPacket', { id: 'gen', ifname: 'p1' });
    const base = { srcMac: lab.macB, dstMac: lab.macA, srcIp: lab.addressB };
    const frames = [
      greFrame({ ...base, dstIp: lab.addressA, key: 0x138900, inner: 'want-gre-1' }),
      udpFrame({ ...base, dstIp: lab.addressA, srcPort: 1, dstPort: 2, payload: 'skip-udp' }),
      greFrame({ ...base, dstIp: '198.18.9.9', key: 0x138900, inner: 'skip-gre-other-pa' }),
      greFrame({ ...base, dstIp: lab.addressA, key: 0x138900, inner: 'skip-gre-vlan', vlan: 7 }),
      arpRequest(lab.macB, lab.addressB, lab.addressA),
      greFrame({ ...base, dstIp: '198.18.250.1', key: 0x138a00, inner: 'want-gre-2' }),
    ].map(toHex);
    await b.request('send', { id: 'gen', frames });
    const got = await a.request<Received>('receive', { id: 'f', expect: 3, timeoutMs: 3000, settleMs: 200 });
    const seen = got.frames.map((f) => f.hex);
    assert.ok(seen.some((h) => hexHas(h, 'want-gre-1')), 'GRE to a provider address passes');
    assert.ok(seen.some((h) => hexHas(h, 'want-gre-2')), 'GRE to the other provider address passes');
    assert.ok(seen.some((h) => h.slice(24, 28) === '0806'), 'ARP passes');
    for (const skipped of ['skip-udp', 'skip-gre-other-pa', 'skip-gre-vlan']) {
      assert.ok(!seen.some((h) => hexHas(h, skipped)), `${skipped} is filtered out`);
    }
    await a.request('close', { id: 'f' });
    await b.request('close', { id: 'gen' });
  });

  it('refuses and counts VLAN-tagged frames by default, or restores the tag on request', async () => {
    await a.request('openPacket', { id: 'v', ifname: 'p0' });
    await a.request('openPacket', { id: 'vi', ifname: 'p0', options: { vlanTags: 'inline' } });
    await b.request('openPacket', { id: 'gen', ifname: 'p1' });
    const base = { srcMac: lab.macB, dstMac: lab.macA, srcIp: lab.addressB, dstIp: lab.addressA, srcPort: 1, dstPort: 9 };
    const tagged = udpFrame({ ...base, payload: 'tagged', vlan: 100 });
    await b.request('send', { id: 'gen', frames: [tagged, udpFrame({ ...base, payload: 'untagged' })].map(toHex) });

    const dropped = await a.request<Received>('receive', { id: 'v', expect: 1, timeoutMs: 3000, settleMs: 200 });
    assert.ok(dropped.frames.some((f) => hexHas(f.hex, 'untagged')));
    assert.ok(!dropped.frames.some((f) => hexHas(f.hex, 'tagged') && !hexHas(f.hex, 'untagged')));
    const stats = await a.request<Record<string, number>>('stats', { id: 'v' });
    assert.equal(stats.rxVlanDropped, 1);

    const inline = await a.request<Received>('receive', { id: 'vi', expect: 2, timeoutMs: 3000 });
    const back = inline.frames.find((f) => hexHas(f.hex, 'tagged') && !hexHas(f.hex, 'untagged'));
    assert.ok(back, 'the tagged frame is delivered');
    assert.equal(back.length, tagged.length);
    assert.equal(back.hex, toHex(tagged.subarray(0, 96)), 'byte for byte as sent, 802.1Q tag 100 included');
    await a.request('close', { id: 'v' });
    await a.request('close', { id: 'vi' });
    await b.request('close', { id: 'gen' });
  });

  it('counts frames lost to a full ring in rxKernelDrops and keeps working', async () => {
    // Two 4 KiB blocks hold about 50 small frames; nobody reads while 2000 arrive.
    await a.request('openPacket', { id: 'small', ifname: 'p0', options: { rxBlockSize: 4096, rxBlockCount: 2 } });
    await b.request('openPacket', { id: 'gen', ifname: 'p1' });
    const frame = toHex(
      udpFrame({ srcMac: lab.macB, dstMac: lab.macA, srcIp: lab.addressB, dstIp: lab.addressA, srcPort: 1, dstPort: 9, payload: 'flood' }),
    );
    const flood = await b.request<{ sent: number }>('flood', { id: 'gen', frame, count: 2000 });
    assert.equal(flood.sent, 2000);
    const stats = await a.request<Record<string, number>>('stats', { id: 'small' });
    assert.ok(stats.rxKernelDrops! > 1000, `drops counted: ${stats.rxKernelDrops}`);
    const drained = await a.request<Received>('receive', { id: 'small', expect: 1, timeoutMs: 2000, settleMs: 100 });
    assert.ok(drained.total > 0 && drained.total < 200, `the ring's worth was kept: ${drained.total}`);
    // After the drain the ring takes new frames again.
    const after = toHex(
      udpFrame({ srcMac: lab.macB, dstMac: lab.macA, srcIp: lab.addressB, dstIp: lab.addressA, srcPort: 1, dstPort: 9, payload: 'after-overflow' }),
    );
    await b.request('send', { id: 'gen', frames: [after] });
    const later = await a.request<Received>('receive', { id: 'small', expect: 1, timeoutMs: 3000 });
    assert.ok(later.frames.some((f) => hexHas(f.hex, 'after-overflow')));
    await a.request('close', { id: 'small' });
    await b.request('close', { id: 'gen' });
  });

  it('shares received traffic between ports in one fanout group', async () => {
    const fanout = { group: 4242, mode: 'lb' };
    await a.request('openPacket', { id: 'f1', ifname: 'p0', options: { fanout } });
    await a.request('openPacket', { id: 'f2', ifname: 'p0', options: { fanout } });
    await b.request('udpSend', { address: lab.addressA, port: 9, count: 40, prefix: 'fan' });
    const one = await a.request<Received>('receive', { id: 'f1', expect: 1, timeoutMs: 2000, settleMs: 100 });
    const two = await a.request<Received>('receive', { id: 'f2', expect: 1, timeoutMs: 2000, settleMs: 100 });
    const count = (r: Received): number => r.frames.filter((f) => hexHas(f.hex, 'fan-')).length;
    assert.equal(count(one) + count(two), 40, 'each frame goes to exactly one member');
    assert.ok(count(one) > 0 && count(two) > 0, `both members get some: ${count(one)}/${count(two)}`);
    await a.request('close', { id: 'f1' });
    await a.request('close', { id: 'f2' });
  });

  it('says which interface is missing when asked to open one that is not there', async () => {
    await assert.rejects(a.request('openPacket', { id: 'none', ifname: 'nvgwio-nope' }), (error: unknown) => {
      assert.ok(error instanceof AgentOperationError);
      assert.equal(error.detail.code, 'ENODEV');
      assert.equal(error.detail.interface, 'nvgwio-nope');
      assert.match(error.detail.message, /cannot open packet port on 'nvgwio-nope': No such device/);
      return true;
    });
  });

  it('throws an Error with errno fields in-process too', () => {
    assert.throws(
      () => openPacketPort('nvgwio-absent0'),
      (error: unknown) => isPortOpenError(error) && error.code === 'ENODEV' && error.errno === 19 && error.interface === 'nvgwio-absent0',
    );
    assert.throws(() => openPacketPort('bad/name'), (error: unknown) => isPortOpenError(error) && error.code === 'EINVAL');
  });

  it('reports EPERM, naming the interface, to a process without CAP_NET_RAW', () => {
    const script = `import('${pathToFileURL(join(distRoot, 'src/datapath/io/packet-port.js')).href}')
      .then(({ openPacketPort }) => openPacketPort('p0'))
      .then(() => console.log('{}'), (e) => console.log(JSON.stringify({ code: e.code, message: e.message })));`;
    const out = execFileSync(
      'ip',
      ['netns', 'exec', lab.nsA, 'setpriv', '--bounding-set=-all', '--inh-caps=-all', '--ambient-caps=-all', process.execPath, '--input-type=module', '-e', script],
      { encoding: 'utf8' },
    );
    const result = JSON.parse(out) as { code?: string; message?: string };
    assert.equal(result.code, 'EPERM');
    assert.match(result.message ?? '', /cannot open packet port on 'p0': Operation not permitted/);
  });

  it('finishes the partial UDP checksum a local sender leaves (veth tx offload) when asked, and counts it either way', async () => {
    await a.request('openPacket', { id: 'done', ifname: 'p0', options: { completeChecksums: true } });
    await a.request('openPacket', { id: 'raw', ifname: 'p0' });
    await b.request('udpSend', { address: lab.addressA, port: 9, count: 3, prefix: 'nvgw-csum', size: 301 });
    /** The checksum over pseudo-header, UDP header and payload of an Ethernet/IPv4/UDP frame: 0 when it verifies. */
    const verify = (hex: string): number => {
      const f = Buffer.from(hex, 'hex');
      const ihl = (f[14]! & 0x0f) * 4;
      const udpLength = f.readUInt16BE(14 + ihl + 4);
      const sum = Buffer.concat([f.subarray(26, 34), Buffer.from([0, 17]), Buffer.from([udpLength >> 8, udpLength & 0xff]), f.subarray(14 + ihl, 14 + ihl + udpLength), Buffer.alloc(1)]);
      let total = 0;
      for (let i = 0; i + 1 < sum.length; i += 2) total += sum.readUInt16BE(i);
      while (total > 0xffff) total = (total & 0xffff) + (total >>> 16);
      return ~total & 0xffff;
    };
    const done = (await a.request<Received>('receive', { id: 'done', expect: 3, timeoutMs: 3000, bytes: 2000 })).frames.filter((f) => hexHas(f.hex, 'nvgw-csum-'));
    const raw = (await a.request<Received>('receive', { id: 'raw', expect: 3, timeoutMs: 3000, bytes: 2000 })).frames.filter((f) => hexHas(f.hex, 'nvgw-csum-'));
    assert.equal(done.length, 3);
    assert.equal(raw.length, 3);
    for (const f of done) assert.equal(verify(f.hex), 0, 'completed: the checksum verifies');
    for (const f of raw) assert.notEqual(verify(f.hex), 0, 'as received: only the pseudo-header part is in it');
    const stats = { done: await a.request<Record<string, number>>('stats', { id: 'done' }), raw: await a.request<Record<string, number>>('stats', { id: 'raw' }) };
    assert.ok(stats.done.rxChecksumCompleted! >= 3 && stats.done.rxChecksumPartial! >= 3, JSON.stringify(stats.done));
    assert.equal(stats.raw.rxChecksumCompleted, 0);
    assert.ok(stats.raw.rxChecksumPartial! >= 3);
    await a.request('close', { id: 'done' });
    await a.request('close', { id: 'raw' });
  });

  it('detaches the buffer on close, so old views see no memory', async () => {
    const result = await a.request<{ before: number; after: number; expected: number }>('detachCheck', { ifname: 'p0' });
    assert.equal(result.before, result.expected);
    assert.equal(result.after, 0);
  });
});
