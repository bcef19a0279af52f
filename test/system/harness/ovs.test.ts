// Self-tests of the Open vSwitch userspace NVGRE hosts (test/support/ovs.ts): before the
// gateway is tested against them, they must be shown to speak RFC 7637 NVGRE to each other,
// keep VSIDs apart even when the VSIDs reuse addresses and MACs, carry TCP, accept any
// FlowID, and follow a VM that moves to another host.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import type { CapturedFrame } from '../../support/capture.js';
import { nvgreFrames, startCapture } from '../../support/capture.js';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';
import type { OvsHost, OvsVmSpec } from '../../support/ovs.js';
import { createOvsHost, DEFAULT_VM_MTU } from '../../support/ovs.js';

const PA = { h1: '10.1.1.11', h2: '10.1.1.12', h3: '10.1.1.13' };
const MAC = { a: '00:15:5d:00:01:01', b: '00:15:5d:00:01:02' };
// VSID 5002 reuses VSID 5001's addresses and MACs, as a second routing domain would.
const vm = (name: string, vsid: number, ip: string, mac: string): OvsVmSpec => ({ name, vsid, ip, mac, prefixLength: 24 });

interface IperfResult {
  error?: string;
  end?: { sum_received?: { bytes: number; bits_per_second: number } };
}

describe('Open vSwitch userspace NVGRE hosts', { timeout: 180_000 }, () => {
  let lab: Lab;
  let fabric: string;
  let h1: OvsHost;
  let h2: OvsHost;
  const startMs: number[] = [];

  /**
   * Pings with a capture on the fabric bridge; returns the ping result and the NVGRE frames
   * that carry this ping's echo requests and replies (other tests' late ARP retries, in any
   * VSID, are left out).
   */
  async function pingCaptured(fromNs: string, dst: string, count = 3): Promise<{ received: number; frames: CapturedFrame[] }> {
    const cap = await startCapture(lab, fabric, 'br0', { filter: 'ip proto 47' });
    const r = await lab.ping(fromNs, dst, { count });
    const frames = nvgreFrames(await cap.stop()).filter(
      (f) => (f.inner?.icmp?.type === 8 && f.inner.ip?.dst === dst) || (f.inner?.icmp?.type === 0 && f.inner.ip?.src === dst),
    );
    return { received: r.received, frames };
  }

  before(async () => {
    lab = await createLab('nvho');
    fabric = await lab.namespace('fabric');
    await lab.bridge(fabric, 'br0');
    const host = async (name: 'h1' | 'h2' | 'h3', vms: OvsVmSpec[], peers: string[]): Promise<OvsHost> => {
      const t0 = Date.now();
      const h = await createOvsHost(lab, {
        name, pa: PA[name], paPrefixLength: 24, fabric: { ns: fabric, bridge: 'br0' }, vms,
        tunnels: peers.flatMap((remotePa) => [{ vsid: 5001, remotePa }, { vsid: 5002, remotePa }]),
      });
      startMs.push(Date.now() - t0);
      return h;
    };
    h1 = await host('h1', [{ ...vm('a1', 5001, '192.168.1.1', MAC.a), gateway: '192.168.1.254' }, vm('b1', 5002, '192.168.1.1', MAC.a)], [PA.h2]);
    h2 = await host('h2', [vm('a2', 5001, '192.168.1.2', MAC.b), vm('b2', 5002, '192.168.1.2', MAC.b)], [PA.h1]);
  });
  after(() => lab.destroy());

  it('starts a host (two daemons, bridges, VMs, tunnels) within seconds', () => {
    assert.equal(startMs.length, 2);
    for (const ms of startMs) assert.ok(ms < 10_000, `host start took ${ms} ms`);
    console.log(`OVS host start: ${startMs.join(' ms, ')} ms`);
  });

  it('VMs of one VSID on two hosts ping each other over NVGRE on the fabric', async () => {
    const { received, frames } = await pingCaptured(h1.vm('a1').ns, '192.168.1.2');
    assert.ok(received >= 2, `only ${received} of 3 replies`);
    const requests = frames.filter((f) => f.inner?.icmp?.type === 8);
    const replies = frames.filter((f) => f.inner?.icmp?.type === 0);
    assert.ok(requests.length >= received && replies.length >= received, `${requests.length} requests, ${replies.length} replies on the fabric`);
    for (const f of requests) {
      assert.deepEqual([f.outer.ip?.src, f.outer.ip?.dst], [PA.h1, PA.h2]);
      assert.deepEqual([f.inner?.ip?.src, f.inner?.ip?.dst, f.inner?.eth?.src, f.inner?.eth?.dst], ['192.168.1.1', '192.168.1.2', MAC.a, MAC.b]);
    }
    for (const f of replies) assert.deepEqual([f.outer.ip?.src, f.outer.ip?.dst], [PA.h2, PA.h1]);
  });

  it('puts RFC 7637 NVGRE on the wire: GRE version 0, only K set, protocol 0x6558, key = VSID << 8', async () => {
    const { frames } = await pingCaptured(h1.vm('a1').ns, '192.168.1.2', 2);
    assert.ok(frames.length > 0);
    for (const f of frames) {
      assert.deepEqual(f.gre, {
        checksumPresent: false, routingPresent: false, keyPresent: true, sequencePresent: false, version: 0,
        protocol: 0x6558, key: 5001 << 8, vsid: 5001, flowId: 0,
      });
      assert.equal(f.outer.ip?.proto, 47);
    }
  });

  it('keeps a second VSID that reuses the same addresses and MACs isolated', async () => {
    // b1 (VSID 5002) pings 192.168.1.2: only b2 may see it, and a2 (same IP and MAC, VSID 5001) never.
    const capA2 = await startCapture(lab, h2.vm('a2').ns, 'eth0', { filter: 'icmp', direction: 'in' });
    const capB2 = await startCapture(lab, h2.vm('b2').ns, 'eth0', { filter: 'icmp', direction: 'in' });
    const { received, frames } = await pingCaptured(h1.vm('b1').ns, '192.168.1.2');
    assert.ok(received >= 2, `only ${received} of 3 replies in VSID 5002`);
    const atA2 = await capA2.stop();
    const atB2 = await capB2.stop();
    assert.equal(atA2.length, 0, 'a frame of VSID 5002 reached a VM of VSID 5001');
    assert.ok(atB2.filter((f) => f.outer.icmp?.type === 8).length >= 2);
    assert.ok(frames.length > 0);
    for (const f of frames) assert.equal(f.gre?.vsid, 5002);
  });

  it('floods a broadcast only within its VSID (ARP for an address nobody has)', async () => {
    // ARP "who-has 192.168.1.3": the target protocol address is bytes 24-27 of the ARP body.
    const filter = 'arp and arp[24:4] = 0xc0a80103';
    const capA2 = await startCapture(lab, h2.vm('a2').ns, 'eth0', { filter, direction: 'in' });
    const capB2 = await startCapture(lab, h2.vm('b2').ns, 'eth0', { filter, direction: 'in' });
    const r = await lab.ping(h1.vm('b1').ns, '192.168.1.3', { count: 2 });
    assert.equal(r.received, 0);
    const atB2 = await capB2.stop();
    assert.ok(atB2.length > 0, 'the broadcast did not reach the other VM of its own VSID');
    assert.equal(atB2[0]?.outer.arp?.targetIp, '192.168.1.3');
    assert.deepEqual(await capA2.stop(), [], 'a broadcast of VSID 5002 reached a VM of VSID 5001');
  });

  it('sends the configured FlowID and accepts a non-zero FlowID in the VSID', async () => {
    await h1.updateTunnel({ vsid: 5001, remotePa: PA.h2, flowId: 0x5a });
    await h2.updateTunnel({ vsid: 5001, remotePa: PA.h1, flowId: 0xa5 });
    try {
      const { received, frames } = await pingCaptured(h1.vm('a1').ns, '192.168.1.2');
      assert.ok(received >= 2, `only ${received} of 3 replies with non-zero FlowIDs`);
      const fromH1 = frames.filter((f) => f.outer.ip?.src === PA.h1);
      const fromH2 = frames.filter((f) => f.outer.ip?.src === PA.h2);
      assert.ok(fromH1.length > 0 && fromH2.length > 0);
      for (const f of fromH1) assert.deepEqual([f.gre?.vsid, f.gre?.flowId, f.gre?.key], [5001, 0x5a, (5001 << 8) | 0x5a]);
      for (const f of fromH2) assert.deepEqual([f.gre?.vsid, f.gre?.flowId], [5001, 0xa5]);
    } finally {
      await h1.updateTunnel({ vsid: 5001, remotePa: PA.h2, flowId: 0 });
      await h2.updateTunnel({ vsid: 5001, remotePa: PA.h1, flowId: 0 });
    }
  });

  it('gives a VM its MAC, MTU, tx checksum offload off and default route', async () => {
    const a1 = h1.vm('a1');
    const [link] = JSON.parse((await lab.exec(a1.ns, ['ip', '-j', 'link', 'show', 'eth0'])).stdout) as Array<{ address: string; mtu: number }>;
    assert.deepEqual([link?.address, link?.mtu], [MAC.a, DEFAULT_VM_MTU]);
    assert.match((await lab.exec(a1.ns, ['ethtool', '-k', 'eth0'])).stdout, /tx-checksumming: off/);
    assert.match((await lab.exec(a1.ns, ['ip', 'route', 'show', 'default'])).stdout, /via 192\.168\.1\.254/);
  });

  it('stops carrying a VSID to a PA once its tunnel is removed, and again once re-added', async () => {
    await h1.removeTunnel(5002, PA.h2);
    try {
      assert.equal((await lab.ping(h1.vm('b1').ns, '192.168.1.2', { count: 2 })).received, 0);
      assert.equal((await lab.ping(h1.vm('a1').ns, '192.168.1.2', { count: 2 })).received, 2, 'VSID 5001 to the same PA was disturbed');
    } finally {
      await h1.addTunnel({ vsid: 5002, remotePa: PA.h2 });
    }
    assert.ok((await lab.ping(h1.vm('b1').ns, '192.168.1.2', { count: 3 })).received >= 2);
  });

  it('carries an iperf3 TCP transfer between VMs of one VSID', async () => {
    const server = lab.spawn(h2.vm('a2').ns, ['iperf3', '-s', '-1', '-p', '5201', '--forceflush']);
    await server.waitForOutput(/listening/i);
    const { stdout } = await lab.exec(h1.vm('a1').ns, ['iperf3', '-c', '192.168.1.2', '-p', '5201', '-t', '2', '-J'], { timeoutMs: 30_000 });
    const result = JSON.parse(stdout) as IperfResult;
    assert.equal(result.error, undefined);
    const received = result.end?.sum_received;
    assert.ok(received, 'no sum_received in iperf3 output');
    assert.ok(received.bytes > 1_000_000, `only ${received.bytes} bytes received`);
    console.log(`iperf3 over OVS userspace NVGRE: ${(received.bits_per_second / 1e6).toFixed(0)} Mbit/s (VM MTU ${DEFAULT_VM_MTU})`);
    await server.exited;
  });

});

describe('Open vSwitch host set-up failures', { timeout: 60_000 }, () => {
  it('names the host and shows the vswitchd log when set-up fails, and the lab still cleans up', async () => {
    const lab = await createLab('nvhf');
    try {
      const fabric = await lab.namespace('fabric');
      await lab.bridge(fabric, 'br0');
      await assert.rejects(
        createOvsHost(lab, {
          name: 'hx', pa: '10.1.1.21', paPrefixLength: 24, fabric: { ns: fabric, bridge: 'br0' },
          vms: [vm('ok1', 5001, '192.168.1.1', MAC.a)], tunnels: [{ vsid: 5001, remotePa: '10.1.1.22', flowId: 256 }],
        }),
        (e: unknown) => {
          assert.ok(e instanceof Error);
          assert.match(e.message, /createOvsHost hx: FlowID 256 is not an 8-bit integer/);
          assert.match(e.message, /ovs-vswitchd\.log/);
          return true;
        },
      );
    } finally {
      await lab.destroy();
    }
    assert.deepEqual(lab.namespaces.filter((ns) => namespacesNow().includes(ns)), []);
  });
});

function namespacesNow(): string[] {
  const out = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' }).stdout.trim();
  return out ? (JSON.parse(out) as Array<{ name: string }>).map((n) => n.name) : [];
}

describe('live migration between Open vSwitch hosts', { timeout: 120_000 }, () => {
  let lab: Lab;
  let fabric: string;
  let h1: OvsHost;
  let h2: OvsHost;
  let h3: OvsHost;

  before(async () => {
    lab = await createLab('nvhm');
    fabric = await lab.namespace('fabric');
    await lab.bridge(fabric, 'br0');
    const host = (name: 'h1' | 'h2' | 'h3', vms: OvsVmSpec[], peers: string[]): Promise<OvsHost> =>
      createOvsHost(lab, {
        name, pa: PA[name], paPrefixLength: 24, fabric: { ns: fabric, bridge: 'br0' }, vms,
        tunnels: peers.map((remotePa) => ({ vsid: 5001, remotePa })),
      });
    h1 = await host('h1', [vm('a1', 5001, '192.168.1.1', MAC.a)], [PA.h2]);
    h2 = await host('h2', [vm('a2', 5001, '192.168.1.2', MAC.b)], [PA.h1, PA.h3]);
    h3 = await host('h3', [], [PA.h2]);
  });
  after(() => lab.destroy());

  it('follows a VM moved to a third host: the peer reaches it at the new PA', async () => {
    const a1 = h1.vm('a1');
    // Traffic just before the move: OVS would re-learn the old place from its cached flows.
    assert.equal((await lab.ping(h2.vm('a2').ns, '192.168.1.1', { count: 2 })).received, 2);
    // One capture over the move and the pings right after it: a peer that still sent to the
    // old host in the first second after the move would show here.
    const cap = await startCapture(lab, fabric, 'br0', { filter: 'ip proto 47' });
    const t0 = Date.now();
    await h1.moveVm('a1', h3);
    const moveMs = Date.now() - t0;
    const movedNs = BigInt(Date.now()) * 1_000_000n;
    const { received } = await lab.ping(h2.vm('a2').ns, '192.168.1.1', { count: 5 });
    const frames = nvgreFrames(await cap.stop());
    assert.ok(received >= 4, `only ${received} of 5 replies right after the move`);
    assert.equal(a1.host, h3);
    assert.equal(h3.vm('a1').ns, a1.ns);
    assert.throws(() => h1.vm('a1'), /no VM a1/);

    const garps = frames.filter((f) => f.inner?.arp?.senderIp === '192.168.1.1' && f.inner.arp.targetIp === '192.168.1.1');
    assert.ok(garps.some((f) => f.outer.ip?.src === PA.h3 && f.outer.ip.dst === PA.h2 && f.gre?.vsid === 5001), 'no gratuitous ARP from the new host');
    // Split horizon: h2 must not re-flood what came from one tunnel into another (towards h1).
    assert.deepEqual(garps.filter((f) => f.outer.ip?.src !== PA.h3).map((f) => `${f.outer.ip?.src} -> ${f.outer.ip?.dst}`), []);
    const requests = frames.filter((f) => f.inner?.icmp?.type === 8 && f.timeNs > movedNs);
    assert.ok(requests.length >= 5);
    for (const f of requests) assert.equal(f.outer.ip?.dst, PA.h3, 'an echo request still went to the old host');
    console.log(`moveVm took ${moveMs} ms`);
  });
});
