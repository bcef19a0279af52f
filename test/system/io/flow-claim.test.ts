/**
 * The ingress flow claim (openFlowClaim: one BPF map read by a packet port's socket
 * filter and by a tcx ingress program) against the real kernel. Namespace a holds the
 * claim, attached to p0's ingress, and a packet port on p0 running the claim's socket
 * filter; namespace b sends hand-built frames through a plain packet port on p1, so every
 * header field is the test's. What namespace a's IP stack saw is read from iptables raw
 * PREROUTING counters, one rule per source address (netfilter runs in ip_rcv, after tcx
 * ingress), and for UDP from a socket bound in namespace a. Every case uses a source
 * address of its own, so its counter counts its frames and nothing else.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CLAIM_COPY, CLAIM_DROP, openFlowClaim, type ClaimTuple } from '../../../src/datapath/io/flow-claim.js';
import { AgentOperationError, type Agent } from './support/agent-client.js';
import { ipv4Frame, ipv4Number, marker, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, tcpSegment, udpDatagram } from './support/claim-frames.js';
import { toHex } from './support/frames.js';
import { isRoot, Lab, leftoverNamespaces, linkIndex } from './support/lab.js';

interface Received {
  total: number;
  frames: { length: number; hex: string }[];
}

const UDP = 17;
const TCP = 6;
/** The socket in namespace a that shows what the kernel delivered. */
const UDP_PORT = 7001;
/** The claim's maxFrameLength in these tests: small, so a too-long frame is cheap to build. */
const MAX_FRAME = 300;
/** No interface has this index (ifindexes are allocated from 1 up, per namespace). */
const MISSING_IFINDEX = 999_999;

describe('ingress flow claim (socket filter + tcx ingress on one map)', { skip: !isRoot() && 'needs root (network namespaces, BPF)' }, () => {
  let lab: Lab;
  let a: Agent;
  let b: Agent;
  let ifindexP0 = 0;
  let nextHost = 100;
  let claimCount = 0;

  /** A source address of its own for one case, with a raw PREROUTING counter rule for it. */
  function source(): string {
    const address = `198.18.${lab.net}.${nextHost++}`;
    execFileSync('ip', ['netns', 'exec', lab.nsA, 'iptables', '-w', '-t', 'raw', '-A', 'PREROUTING', '-s', `${address}/32`, '-m', 'comment', '--comment', 'nvgw flow-claim test: what the kernel saw'], { stdio: 'pipe' });
    return address;
  }

  /** Frames from `src` that namespace a's IP stack saw (its raw PREROUTING counter). */
  function kernelSaw(src: string): number {
    const rules = execFileSync('ip', ['netns', 'exec', lab.nsA, 'iptables-save', '-c', '-t', 'raw'], { encoding: 'utf8' });
    const match = new RegExp(`^\\[(\\d+):\\d+\\] -A PREROUTING -s ${src.replaceAll('.', '\\.')}/32 `, 'm').exec(rules);
    if (!match?.[1]) throw new Error(`no counter rule for ${src}:\n${rules}`);
    return Number(match[1]);
  }

  const tuple = (src: string, srcPort: number, protocol = UDP, dstPort = UDP_PORT): ClaimTuple => ({ src: ipv4Number(src), dst: ipv4Number(lab.addressA), srcPort, dstPort, protocol });

  const udp = (src: string, srcPort: number, text: string, dstPort = UDP_PORT): Uint8Array =>
    ipv4Frame({ srcMac: lab.macB, dstMac: lab.macA, srcIp: src, dstIp: lab.addressA, protocol: UDP, payload: udpDatagram(srcPort, dstPort, marker(text)) });

  const tcp = (src: string, srcPort: number, flags: number, text: string): Uint8Array =>
    ipv4Frame({ srcMac: lab.macB, dstMac: lab.macA, srcIp: src, dstIp: lab.addressA, protocol: TCP, payload: tcpSegment(srcPort, UDP_PORT, flags, marker(text)) });

  async function send(frames: Uint8Array[]): Promise<void> {
    const sent = await b.request<{ reserved: number }>('send', { id: 'p1', frames: frames.map(toHex) });
    assert.equal(sent.reserved, frames.length);
  }

  /** The source addresses of the frames that entered the port's ring (waits for `expect`, then 200 ms more). */
  async function ringSources(port: string, expect: number, timeoutMs = 2000): Promise<string[]> {
    const got = await a.request<Received>('receive', { id: port, expect, timeoutMs: expect === 0 ? 500 : timeoutMs, settleMs: 200 });
    // Ethernet header 14 bytes, IPv4 source at 12: bytes 26..29, hex characters 52..59.
    return got.frames.map((f) => (f.hex.slice(52, 60).match(/../g) ?? []).map((h) => parseInt(h, 16)).join('.')).sort();
  }

  /** What the UDP socket bound in namespace a received (and forgets it). */
  async function delivered(expect: number): Promise<string[]> {
    const got = await a.request<{ messages: string[] }>('udpCollect', { sock: 'u', expect, timeoutMs: expect === 0 ? 300 : 2000, settleMs: 100 });
    return got.messages.sort();
  }

  /** Empties the socket's queue, so that a test failing halfway does not fail the next one too. */
  async function forgetDelivered(): Promise<void> {
    await a.request('udpCollect', { sock: 'u', expect: 0, timeoutMs: 0 });
  }

  /** A fresh claim attached to p0's ingress, and a port on p0 running its socket filter. */
  async function openClaim(): Promise<{ claim: string; port: string }> {
    await forgetDelivered();
    const n = claimCount++;
    const claim = `claim${n}`;
    const port = `port${n}`;
    const opened = await a.request<{ socketFilterFd: number }>('claimOpen', { claim, options: { maxEntries: 64, maxFrameLength: MAX_FRAME } });
    assert.ok(opened.socketFilterFd >= 0);
    await a.request('openPacket', { id: port, ifname: 'p0', claim, options: { rxBlockCount: 4, txFrameCount: 8 } });
    const attached = await a.request<{ ingressAttached: boolean }>('claimAttach', { claim, ifindex: ifindexP0 });
    assert.equal(attached.ingressAttached, true);
    return { claim, port };
  }

  async function closeClaim(opened: { claim: string; port: string }): Promise<void> {
    await a.request('close', { id: opened.port });
    await a.request('claimClose', { claim: opened.claim });
  }

  before(async () => {
    lab = Lab.create('clm');
    ifindexP0 = linkIndex(lab.nsA, 'p0');
    a = await lab.agent('a');
    b = await lab.agent('b');
    await b.request('openPacket', { id: 'p1', ifname: 'p1', options: { rxBlockCount: 2, txFrameCount: 64 } });
    await a.request('udpBind', { sock: 'u', address: lab.addressA, port: UDP_PORT });
  });

  after(async () => {
    await lab?.destroy();
    assert.deepEqual(leftoverNamespaces().filter((ns) => ns.includes('-clm-')), []);
  });

  it('takes a flow claimed with copy and drop into the ring and away from the kernel', async () => {
    const opened = await openClaim();
    const src = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(src, 4001)], bits: CLAIM_COPY | CLAIM_DROP });
    await send([0, 1, 2].map((k) => udp(src, 4001, `clm-take-${k}`)));
    assert.deepEqual(await ringSources(opened.port, 3), [src, src, src], 'all three frames enter the ring');
    assert.deepEqual(await delivered(0), [], 'the socket bound to the flow receives nothing');
    assert.equal(kernelSaw(src), 0, 'the IP stack never sees the frames');
    await closeClaim(opened);
  });

  it('leaves an unclaimed flow to the kernel and out of the ring, even one differing from a claim only in a port or the protocol', async () => {
    const opened = await openClaim();
    const claimed = source();
    const other = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(claimed, 4001)], bits: CLAIM_COPY | CLAIM_DROP });
    await send([
      udp(claimed, 4001, 'clm-un-claimed'),
      udp(claimed, 4002, 'clm-un-sport'),
      udp(claimed, 4001, 'clm-un-dport', UDP_PORT + 1),
      tcp(claimed, 4001, TCP_ACK, 'clm-un-tcp'),
      udp(other, 4001, 'clm-un-other'),
    ]);
    // Only the claimed frame: no other frame of the interface (ARP, IPv6) enters the ring.
    assert.deepEqual(await ringSources(opened.port, 1), [claimed]);
    assert.deepEqual(await delivered(2), ['clm-un-other', 'clm-un-sport']);
    assert.equal(kernelSaw(claimed), 3, 'the kernel sees the three unclaimed frames from the claimed source');
    assert.equal(kernelSaw(other), 1);
    await closeClaim(opened);
  });

  it('gives both the ring and the kernel a flow claimed with copy only', async () => {
    const opened = await openClaim();
    const src = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(src, 4001)], bits: CLAIM_COPY });
    await send([udp(src, 4001, 'clm-copy-0'), udp(src, 4001, 'clm-copy-1')]);
    assert.deepEqual(await ringSources(opened.port, 2), [src, src]);
    assert.deepEqual(await delivered(2), ['clm-copy-0', 'clm-copy-1']);
    assert.equal(kernelSaw(src), 2);
    await closeClaim(opened);
  });

  it('gives neither the ring nor the kernel a flow claimed with drop only', async () => {
    const opened = await openClaim();
    const src = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(src, 4001)], bits: CLAIM_DROP });
    await send([udp(src, 4001, 'clm-drop-0'), udp(src, 4001, 'clm-drop-1')]);
    assert.deepEqual(await ringSources(opened.port, 0), []);
    assert.deepEqual(await delivered(0), []);
    assert.equal(kernelSaw(src), 0);
    await closeClaim(opened);
  });

  it('never claims TCP SYN, FIN or RST, fragments, IPv4 options, TTL 1, 802.1Q-tagged frames, frames too short or longer than maxFrameLength, though their tuples are claimed', async () => {
    const opened = await openClaim();
    const head = { srcMac: lab.macB, dstMac: lab.macA, dstIp: lab.addressA };
    // Each case: a frame that breaks one rule of the decision, from a source of its own,
    // its tuple claimed with copy and drop.
    const never: { name: string; src: string; tuple: ClaimTuple; frame: Uint8Array }[] = [];
    const add = (name: string, srcPort: number, protocol: number, build: (src: string) => Uint8Array): void => {
      const src = source();
      never.push({ name, src, tuple: tuple(src, srcPort, protocol), frame: build(src) });
    };
    add('TCP SYN', 5001, TCP, (src) => tcp(src, 5001, TCP_SYN, 'clm-syn'));
    add('TCP FIN', 5002, TCP, (src) => tcp(src, 5002, TCP_FIN | TCP_ACK, 'clm-fin'));
    add('TCP RST', 5003, TCP, (src) => tcp(src, 5003, TCP_RST | TCP_ACK, 'clm-rst'));
    add('first fragment', 5004, UDP, (src) =>
      ipv4Frame({ ...head, srcIp: src, protocol: UDP, moreFragments: true, payload: udpDatagram(5004, UDP_PORT, marker('clm-frag-first..', 16)) }),
    );
    // A later fragment whose first bytes look like the claimed flow's ports.
    add('later fragment', 5005, UDP, (src) =>
      ipv4Frame({ ...head, srcIp: src, protocol: UDP, fragmentOffset: 185, payload: Uint8Array.of(5005 >> 8, 5005 & 0xff, UDP_PORT >> 8, UDP_PORT & 0xff, ...marker('clm-frag-later')) }),
    );
    // Four NOPs: read as if there were no options, they too would say ports 257 -> 257.
    add('IPv4 options', 257, UDP, (src) =>
      ipv4Frame({ ...head, srcIp: src, protocol: UDP, options: Uint8Array.of(1, 1, 1, 1), payload: udpDatagram(257, 257, marker('clm-options')) }),
    );
    never[never.length - 1]!.tuple.dstPort = 257;
    add('TTL 1', 5006, UDP, (src) => ipv4Frame({ ...head, srcIp: src, protocol: UDP, ttl: 1, payload: udpDatagram(5006, UDP_PORT, marker('clm-ttl1')) }));
    add('one byte over maxFrameLength', 5007, UDP, (src) =>
      ipv4Frame({ ...head, srcIp: src, protocol: UDP, payload: udpDatagram(5007, UDP_PORT, marker('clm-long', MAX_FRAME + 1 - 42)) }),
    );
    // The ports are there but not the flags byte: the second load fails.
    add('TCP cut short before its flags', 5008, TCP, (src) => ipv4Frame({ ...head, srcIp: src, protocol: TCP, payload: Uint8Array.of(5008 >> 8, 5008 & 0xff, UDP_PORT >> 8, UDP_PORT & 0xff) }));
    add('too short for the ports', 5009, UDP, (src) => ipv4Frame({ ...head, srcIp: src, protocol: UDP, payload: Uint8Array.of(5009 >> 8, 5009 & 0xff) }));
    // The kernel strips a priority tag before the taps and tcx see the frame, then
    // delivers it as untagged: the port refuses tagged frames, so the kernel must keep it.
    add('802.1Q priority tag', 5010, UDP, (src) => ipv4Frame({ ...head, srcIp: src, protocol: UDP, vlan: 0, payload: udpDatagram(5010, UDP_PORT, marker('clm-vlan0')) }));
    assert.equal(never.find((c) => c.name === 'one byte over maxFrameLength')!.frame.length, MAX_FRAME + 1);
    assert.equal(never.find((c) => c.name === 'TCP cut short before its flags')!.frame.length, 38);

    // The same shapes on the right side of each rule are claimed, so the cases above are
    // refused for the rule they break and not because such frames never match.
    const claimed: { name: string; src: string; tuple: ClaimTuple; frame: Uint8Array }[] = [];
    const control = (name: string, srcPort: number, protocol: number, build: (src: string) => Uint8Array): void => {
      const src = source();
      claimed.push({ name, src, tuple: tuple(src, srcPort, protocol), frame: build(src) });
    };
    control('TCP ACK', 6001, TCP, (src) => tcp(src, 6001, TCP_ACK | TCP_PSH, 'clm-ack'));
    control('TTL 2', 6002, UDP, (src) => ipv4Frame({ ...head, srcIp: src, protocol: UDP, ttl: 2, payload: udpDatagram(6002, UDP_PORT, marker('clm-ttl2')) }));
    control('exactly maxFrameLength, DF clear', 6003, UDP, (src) =>
      ipv4Frame({ ...head, srcIp: src, protocol: UDP, dontFragment: false, payload: udpDatagram(6003, UDP_PORT, marker('clm-max', MAX_FRAME - 42)) }),
    );
    assert.equal(claimed[2]!.frame.length, MAX_FRAME);

    await a.request('claimSet', { claim: opened.claim, tuples: [...never, ...claimed].map((c) => c.tuple), bits: CLAIM_COPY | CLAIM_DROP });
    await send([...never, ...claimed].map((c) => c.frame));
    assert.deepEqual(await ringSources(opened.port, claimed.length), claimed.map((c) => c.src).sort(), 'only the claimable shapes enter the ring');
    assert.deepEqual(
      never.map((c) => `${c.name}: ${kernelSaw(c.src)}`),
      never.map((c) => `${c.name}: 1`),
      'the kernel sees every frame that breaks a rule',
    );
    assert.deepEqual(
      claimed.map((c) => `${c.name}: ${kernelSaw(c.src)}`),
      claimed.map((c) => `${c.name}: 0`),
      'and none of those that keep them',
    );
    // Of the refused frames, three are whole datagrams to the bound socket; the kernel delivers them.
    assert.deepEqual(await delivered(3), ['clm-long', 'clm-ttl1', 'clm-vlan0']);
    const stats = await a.request<Record<string, number>>('stats', { id: opened.port });
    assert.equal(stats.rxVlanDropped, 0, 'the tagged frame never reached the ring');
    await closeClaim(opened);
  });

  it('gives a flow back to the kernel when its claim is deleted', async () => {
    const opened = await openClaim();
    const src = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(src, 4001)], bits: CLAIM_COPY | CLAIM_DROP });
    await send([udp(src, 4001, 'clm-del-before')]);
    assert.deepEqual(await ringSources(opened.port, 1), [src]);
    assert.deepEqual(await delivered(0), []);

    assert.deepEqual(await a.request('claimDelete', { claim: opened.claim, tuple: tuple(src, 4001) }), { deleted: true });
    await send([udp(src, 4001, 'clm-del-after')]);
    assert.deepEqual(await ringSources(opened.port, 0), []);
    assert.deepEqual(await delivered(1), ['clm-del-after']);
    assert.equal(kernelSaw(src), 1);
    assert.deepEqual(await a.request('claimDelete', { claim: opened.claim, tuple: tuple(src, 4001) }), { deleted: false }, 'a second delete finds nothing');
    await closeClaim(opened);
  });

  it('gives every flow back to the kernel on detachIngress() and on close(), and takes them again when attached again', async () => {
    const opened = await openClaim();
    const src = source();
    await a.request('claimSet', { claim: opened.claim, tuples: [tuple(src, 4001)], bits: CLAIM_COPY | CLAIM_DROP });

    assert.deepEqual(await a.request('claimDetach', { claim: opened.claim }), { ingressAttached: false });
    await send([udp(src, 4001, 'clm-det-detached')]);
    assert.deepEqual(await delivered(1), ['clm-det-detached'], 'the kernel has the flow back');
    assert.deepEqual(await ringSources(opened.port, 1), [src], 'the port still takes its copy');

    await a.request('claimAttach', { claim: opened.claim, ifindex: ifindexP0 });
    await send([udp(src, 4001, 'clm-det-again')]);
    assert.deepEqual(await ringSources(opened.port, 1), [src]);
    assert.deepEqual(await delivered(0), [], 'attached again, the claim holds');

    assert.deepEqual(await a.request('claimClose', { claim: opened.claim }), { socketFilterFd: -1, ingressAttached: false });
    await send([udp(src, 4001, 'clm-det-closed')]);
    assert.deepEqual(await delivered(1), ['clm-det-closed'], 'closed, the kernel has the flow back');
    // The port's socket holds the filter and the map as they were when the claim closed.
    assert.deepEqual(await ringSources(opened.port, 1), [src]);
    assert.equal(kernelSaw(src), 2);
    await a.request('close', { id: opened.port });
  });

  it('leaves nothing behind when the process holding an attached claim dies', async () => {
    await forgetDelivered();
    const doomed = await lab.agent('a');
    const src = source();
    await doomed.request('claimOpen', { claim: 'doomed', options: { maxEntries: 4, maxFrameLength: MAX_FRAME } });
    await doomed.request('claimAttach', { claim: 'doomed', ifindex: ifindexP0 });
    await doomed.request('claimSet', { claim: 'doomed', tuples: [tuple(src, 4001)], bits: CLAIM_DROP });
    await send([udp(src, 4001, 'clm-crash-alive')]);
    assert.deepEqual(await delivered(0), []);
    assert.equal(kernelSaw(src), 0, 'while the process lives, its claim holds');

    // The agent SIGKILLs itself; the request fails once the process has exited.
    await assert.rejects(doomed.request('crash', {}), /exited during crash/);
    await send([udp(src, 4001, 'clm-crash-dead')]);
    assert.deepEqual(await delivered(1), ['clm-crash-dead'], 'the tcx link went with its fd');
    assert.equal(kernelSaw(src), 1);
  });

  it('refuses to attach to an ifindex no interface has, naming ENODEV and the index', async () => {
    await a.request('claimOpen', { claim: 'nowhere', options: { maxEntries: 4, maxFrameLength: 1514 } });
    await assert.rejects(a.request('claimAttach', { claim: 'nowhere', ifindex: MISSING_IFINDEX }), (error: unknown) => {
      assert.ok(error instanceof AgentOperationError);
      assert.equal(error.detail.code, 'ENODEV');
      assert.equal(error.detail.syscall, 'bpf(BPF_LINK_CREATE)');
      assert.match(error.detail.message, /ingress of ifindex 999999: No such device .*no interface has that index/);
      return true;
    });
    await a.request('claimClose', { claim: 'nowhere' });
  });

  it('refuses a packet port with both a classic filter and a claim socket filter', async () => {
    await a.request('claimOpen', { claim: 'both', options: { maxEntries: 4, maxFrameLength: 1514 } });
    await assert.rejects(a.request('openPacket', { id: 'both', ifname: 'p0', claim: 'both', fabricFilterFor: [lab.addressA] }), /filter and bpfProgramFd exclude each other/);
    await a.request('claimClose', { claim: 'both' });
  });

  it('rejects options, tuples and bits it could never use, with TypeError or RangeError', () => {
    assert.throws(() => openFlowClaim({ maxEntries: 0, maxFrameLength: 1514 }), { name: 'RangeError', message: /maxEntries must be an integer 1\.\.16777216/ });
    assert.throws(() => openFlowClaim({ maxEntries: 4, maxFrameLength: 41 }), { name: 'RangeError', message: /maxFrameLength/ });
    const claim = openFlowClaim({ maxEntries: 4, maxFrameLength: 1514 });
    const good: ClaimTuple = { src: 0xc6120001, dst: 0xc6120002, srcPort: 1, dstPort: 2, protocol: UDP };
    try {
      assert.throws(() => claim.set({ ...good, protocol: 1 }, CLAIM_COPY), { name: 'RangeError', message: /protocol must be 6 \(TCP\) or 17 \(UDP\)/ });
      assert.throws(() => claim.set({ ...good, src: 2 ** 32 }, CLAIM_COPY), { name: 'RangeError', message: /src must be an integer 0\.\.4294967295/ });
      assert.throws(() => claim.set({ ...good, srcPort: 65536 }, CLAIM_COPY), { name: 'RangeError', message: /srcPort/ });
      assert.throws(() => claim.set({ ...good, dst: 1.5 }, CLAIM_COPY), { name: 'RangeError', message: /dst/ });
      assert.throws(() => claim.set({ ...good, dstPort: '2' as unknown as number }, CLAIM_COPY), { name: 'TypeError', message: /dstPort must be a number/ });
      assert.throws(() => claim.set(good, 0), { name: 'RangeError', message: /bits must be an integer 1\.\.3/ });
      assert.throws(() => claim.set(good, 4), { name: 'RangeError', message: /bits/ });
      assert.throws(() => claim.attachIngress(0), { name: 'RangeError', message: /ifindex/ });
      claim.set(good, CLAIM_COPY | CLAIM_DROP);
      assert.equal(claim.delete(good), true);
      assert.equal(claim.delete(good), false);
    } finally {
      claim.close();
    }
    claim.close();
    assert.equal(claim.socketFilterFd, -1);
    assert.throws(() => claim.set(good, CLAIM_COPY), /set\(\) after close\(\)/);
  });
});
