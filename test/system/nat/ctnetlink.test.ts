/**
 * The conntrack channel against the real kernel, in fresh namespaces:
 *
 *   cl 10.0.1.2 ── va 10.0.1.1 [gw] vb 10.0.2.1 ── srv 10.0.2.2
 *
 * gw routes between them as the gateway does for a NAT tenant: raw PREROUTING from va puts
 * the original direction in zone 7 (`CT --zone-orig 7`; UDP to port 9998 instead gets
 * `CT --zone 9`, both directions, and to 9997 `CT --zone-reply 11`), and nat POSTROUTING
 * SNATs to 10.0.2.1. The channel runs
 * in ct-agent.ts, started inside gw, so its socket and /proc/net/nf_conntrack are gw's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseIpv4 } from '../../../src/kernel/ipv4.js';
import { parseConntrackLine } from '../../../src/nat/conntrack.js';
import type { ConntrackEntry } from '../../../src/nat/conntrack.js';
import type { CtEntry, CtMessage } from '../../../src/nat/ctnetlink.js';
import { IP_CT_TCP_FLAG_BE_LIBERAL, IPS_CONFIRMED, IPS_DYING, IPS_SRC_NAT, IPS_SRC_NAT_DONE, TCP_CONNTRACK_ESTABLISHED } from '../../../src/nat/ctnetlink.js';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';
import { CtAgent } from './support/ct-client.js';

const ip = (text: string): number => parseIpv4(text)!;
const isRoot = process.getuid?.() === 0;

const entryOf = (m: CtMessage): CtEntry => {
  assert.ok('entry' in m, JSON.stringify(m));
  return m.entry;
};
/** A message about the connection the client opened from this source port. */
const about = (kind: CtMessage['kind'], srcPort: number, seq?: number) => (m: CtMessage) =>
  m.kind === kind && 'entry' in m && m.entry.original.srcPort === srcPort && (seq === undefined || m.seq === seq);

describe('ctnetlink with the real kernel', { skip: !isRoot && 'needs root (network namespaces)', timeout: 120_000 }, () => {
  let lab: Lab;
  let cl: string;
  let gw: string;
  let srv: string;
  let agent: CtAgent;
  const agents: CtAgent[] = [];

  const start = async (opts: { worker?: boolean; recvBufferBytes?: number } = {}): Promise<CtAgent> => {
    const a = await CtAgent.start(gw, opts);
    agents.push(a);
    return a;
  };

  /** One UDP datagram from cl's srcPort to srv. */
  const sendUdp = async (srcPort: number, dstPort = 9999): Promise<void> => {
    const script = `const d=require('dgram').createSocket('udp4');d.bind(${srcPort},()=>d.send('x',${dstPort},'10.0.2.2',()=>d.close()))`;
    await lab.exec(cl, [process.execPath, '-e', script]);
  };

  /** gw's own view of the connection from srcPort, as /proc/net/nf_conntrack prints it. */
  const procEntry = async (srcPort: number): Promise<ConntrackEntry | undefined> => {
    const { stdout } = await lab.exec(gw, ['cat', '/proc/net/nf_conntrack']);
    return stdout
      .split('\n')
      .map(parseConntrackLine)
      .find((e) => e?.original.sourcePort === srcPort);
  };

  before(async () => {
    lab = await createLab('nvct');
    cl = await lab.namespace('cl');
    gw = await lab.namespace('gw');
    srv = await lab.namespace('srv');
    await lab.veth({ ns: cl, ifname: 'eth0', addresses: ['10.0.1.2/24'] }, { ns: gw, ifname: 'va', addresses: ['10.0.1.1/24'] });
    await lab.veth({ ns: gw, ifname: 'vb', addresses: ['10.0.2.1/24'] }, { ns: srv, ifname: 'eth0', addresses: ['10.0.2.2/24'] });
    await lab.addRoute(cl, 'default', { via: '10.0.1.1' });
    await lab.sysctl(gw, 'net.ipv4.ip_forward', 1);
    for (const rule of [
      ['-t', 'raw', '-A', 'PREROUTING', '-i', 'va', '-p', 'udp', '--dport', '9998', '-j', 'CT', '--zone', '9'],
      ['-t', 'raw', '-A', 'PREROUTING', '-i', 'va', '-p', 'udp', '--dport', '9997', '-j', 'CT', '--zone-reply', '11'],
      ['-t', 'raw', '-A', 'PREROUTING', '-i', 'va', '-j', 'CT', '--zone-orig', '7'],
      ['-t', 'nat', '-A', 'POSTROUTING', '-o', 'vb', '-j', 'SNAT', '--to-source', '10.0.2.1'],
    ]) {
      await lab.exec(gw, ['iptables', '-w', ...rule]);
    }
    agent = await start();
  });

  after(async () => {
    for (const a of agents) await a.stop();
    await lab?.destroy();
  });

  it('reports a UDP connection through SNAT in zone-orig as a NEW event: both tuples, the zone on the original one, SNAT status', async () => {
    await sendUdp(41000);
    const e = entryOf(await agent.waitFor('the NEW event of 41000', about('new', 41000)));
    assert.deepEqual(e.original, { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 17, srcPort: 41000, dstPort: 9999, zone: 7 });
    assert.deepEqual(e.reply, { src: ip('10.0.2.2'), dst: ip('10.0.2.1'), protocol: 17, srcPort: 9999, dstPort: 41000 });
    assert.equal(e.zone, 0, 'a directional zone comes as CTA_TUPLE_ZONE, not CTA_ZONE');
    const bits = IPS_CONFIRMED | IPS_SRC_NAT | IPS_SRC_NAT_DONE;
    assert.equal(e.status & bits, bits);
    assert.ok(e.timeout > 0 && e.timeout <= 30, `timeout ${e.timeout}`);
  });

  it('refreshes the timeout by the original tuple with its tuple zone; /proc shows it and the kernel echoes an UPDATE to us too', async () => {
    await sendUdp(41001);
    const e = entryOf(await agent.waitFor('the NEW event of 41001', about('new', 41001)));
    const seq = await agent.update(e, { timeout: 600 });
    assert.equal(await agent.answer(seq), 0, 'acked');
    const proc = await procEntry(41001);
    assert.ok(proc !== undefined && proc.timeoutSeconds >= 590 && proc.timeoutSeconds <= 600, `timeout in /proc: ${proc?.timeoutSeconds}`);
    assert.equal(proc.zone, 7);
    assert.equal(proc.zoneDirection, 'original');
    const echo = await agent.waitFor('the UPDATE our change caused', (m) => about('update', 41001)(m) && 'port' in m && m.port === agent.ready.port);
    assert.ok(entryOf(echo).timeout >= 590);
  });

  it('answers an update of a connection that does not exist with ENOENT and its seq, and so a zone-orig tuple sent without its zone', async () => {
    const missing = { original: { src: ip('10.0.1.2'), dst: ip('10.0.2.2'), protocol: 17, srcPort: 1, dstPort: 9999, zone: 7 }, zone: 0 };
    const seq = await agent.update(missing, { timeout: 60 });
    assert.equal(await agent.answer(seq), 2, 'ENOENT');
    await sendUdp(41002);
    const e = entryOf(await agent.waitFor('the NEW event of 41002', about('new', 41002)));
    const zoneless = await agent.update({ original: { ...e.original, zone: undefined }, zone: 0 }, { timeout: 60 });
    assert.equal(await agent.answer(zoneless), 2, 'the same tuple in the default zone is another connection');
  });

  it('finds a connection zoned in both directions (CTA_ZONE) and refreshes it', async () => {
    await sendUdp(41003, 9998);
    const e = entryOf(await agent.waitFor('the NEW event of 41003', about('new', 41003)));
    assert.equal(e.zone, 9);
    assert.equal(e.original.zone, undefined);
    assert.equal(e.reply.zone, undefined);
    const seq = await agent.update(e, { timeout: 500 });
    assert.equal(await agent.answer(seq), 0);
    const proc = await procEntry(41003);
    assert.ok(proc !== undefined && proc.timeoutSeconds >= 490 && proc.timeoutSeconds <= 500, `timeout in /proc: ${proc?.timeoutSeconds}`);
    assert.equal(proc.zoneDirection, 'both');
  });

  it('sets the liberal flag of an established TCP connection, and a dump reads it back in both directions', async () => {
    const server = lab.spawn(srv, [process.execPath, '-e', "require('net').createServer((s)=>s.on('data',(d)=>s.write(d))).listen(8000,'0.0.0.0',()=>console.log('listening'))"]);
    await server.waitForOutput(/listening/);
    const client = lab.spawn(cl, [process.execPath, '-e', "const c=require('net').connect({host:'10.0.2.2',port:8000,localPort:41010},()=>c.write('x'));c.on('data',()=>console.log('echoed'))"]);
    await client.waitForOutput(/echoed/);
    const established = entryOf(
      await agent.waitFor('the ESTABLISHED update of 41010', (m) => about('update', 41010)(m) && entryOf(m).tcpState === TCP_CONNTRACK_ESTABLISHED),
    );
    assert.equal((established.tcpFlags?.original ?? 0) & IP_CT_TCP_FLAG_BE_LIBERAL, 0, 'not liberal before');
    const seq = await agent.update(established, { tcpLiberal: true });
    assert.equal(await agent.answer(seq), 0);
    const dumpSeq = await agent.dump();
    await agent.waitFor('the end of the dump', (m) => m.kind === 'done' && m.seq === dumpSeq);
    const dumped = entryOf(await agent.waitFor('41010 in the dump', about('dump', 41010, dumpSeq)));
    assert.equal(dumped.tcpState, TCP_CONNTRACK_ESTABLISHED);
    assert.equal(dumped.original.zone, 7);
    assert.ok(dumped.tcpFlags !== undefined);
    assert.equal(dumped.tcpFlags.original & IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL);
    assert.equal(dumped.tcpFlags.reply & IP_CT_TCP_FLAG_BE_LIBERAL, IP_CT_TCP_FLAG_BE_LIBERAL);
    await client.stop();
    await server.stop();
  });

  it('finds a connection zoned in the reply direction only by its original tuple in the default zone', async () => {
    await sendUdp(41004, 9997);
    const e = entryOf(await agent.waitFor('the NEW event of 41004', about('new', 41004)));
    assert.deepEqual([e.zone, e.original.zone, e.reply.zone], [0, undefined, 11]);
    const seq = await agent.update(e, { timeout: 400 });
    assert.equal(await agent.answer(seq), 0);
    const proc = await procEntry(41004);
    assert.ok(proc !== undefined && proc.timeoutSeconds >= 390 && proc.timeoutSeconds <= 400, `timeout in /proc: ${proc?.timeoutSeconds}`);
    assert.equal(proc.zoneDirection, 'reply');
  });

  it('turns a listener that throws into an ordinary uncaught exception and goes on delivering', async () => {
    // The addon would abort the process if the exception left its native callback.
    const a = await start();
    await a.throwOnce();
    await sendUdp(41005);
    await a.waitFor('the NEW event of 41005', about('new', 41005));
    await a.until('the uncaught exception', () => a.uncaught.length > 0, 5000);
    assert.deepEqual(a.uncaught, ['a listener threw']);
    await sendUdp(41006);
    await a.waitFor('the NEW event of 41006', about('new', 41006));
    assert.equal(a.exit, undefined, 'the agent is still running');
  });

  // The socket is the addon's, not the `netlink` package's: that one aborts the process on a
  // multicast overrun (its libuv poll callback throws a C++ exception on EPOLLERR). Here the
  // overrun is a notification, and a dump recovers what the lost events would have said.
  it('reports an overrun when events overflow the receive buffer, keeps running, and a dump lists every connection', async () => {
    const small = await start({ recvBufferBytes: 1 });
    assert.ok(small.ready.recvBufferBytes < 16 * 1024, `granted ${small.ready.recvBufferBytes} bytes`);
    assert.ok(agent.ready.recvBufferBytes >= 1024 * 1024, `the default channel got ${agent.ready.recvBufferBytes} bytes`);
    await small.block(3000);
    const burst = "const dgram=require('dgram');const ports=[];let n=0;for(let i=0;i<300;i++){const d=dgram.createSocket('udp4');d.bind(0,()=>{ports.push(d.address().port);d.send('x',9999,'10.0.2.2',()=>{d.close();if(++n===300)console.log(JSON.stringify(ports))})})}";
    const { stdout } = await lab.exec(cl, [process.execPath, '-e', burst]);
    const ports = new Set(JSON.parse(stdout) as number[]);
    assert.equal(ports.size, 300);
    await small.until('the overrun notification', () => small.exit !== undefined || small.overruns > 0, 15_000);
    assert.equal(small.exit, undefined, `the agent is still running: ${small.stderrText}`);
    assert.ok(small.overruns > 0);
    const seq = await small.dump();
    const done = await small.waitFor('the end of the dump', (m) => m.kind === 'done' && m.seq === seq, 20_000);
    assert.deepEqual(done, { kind: 'done', seq, errno: 0 });
    const listed = new Set(small.messages.filter((m) => m.kind === 'dump' && m.seq === seq).map((m) => entryOf(m).original.srcPort));
    assert.deepEqual([...ports].filter((p) => !listed.has(p)), [], 'every connection of the burst is in the dump');
  });

  it('works inside a worker_thread: the events arrive there and its updates are answered', async () => {
    const worker = await start({ worker: true });
    assert.ok(worker.ready.threadId > 0, `opened in thread ${worker.ready.threadId}`);
    await sendUdp(41020);
    const e = entryOf(await worker.waitFor('the NEW event of 41020 in the worker', about('new', 41020)));
    assert.equal(e.original.zone, 7);
    const seq = await worker.update(e, { timeout: 700 });
    assert.equal(await worker.answer(seq), 0);
    const proc = await procEntry(41020);
    assert.ok(proc !== undefined && proc.timeoutSeconds >= 690, `timeout in /proc: ${proc?.timeoutSeconds}`);
  });

  it('reports the DESTROY event when the connection times out', async () => {
    await lab.sysctl(gw, 'net.netfilter.nf_conntrack_udp_timeout', 1);
    try {
      await sendUdp(41030);
      await agent.waitFor('the NEW event of 41030', about('new', 41030));
      // The kernel removes an expired entry when something meets it: its GC worker (up to a
      // minute apart when idle) or a reader of /proc/net/nf_conntrack (ct_seq_show,
      // nf_conntrack_standalone.c). Reading is what hurries it here.
      const destroyed = agent.waitFor('the DESTROY event of 41030', about('destroy', 41030), 30_000);
      const poll = setInterval(() => void procEntry(0).catch(() => undefined), 500);
      try {
        const e = entryOf(await destroyed);
        assert.equal(e.original.zone, 7);
        assert.equal(e.timeout, 0);
        assert.equal(e.status & IPS_DYING, IPS_DYING);
      } finally {
        clearInterval(poll);
      }
    } finally {
      await lab.sysctl(gw, 'net.netfilter.nf_conntrack_udp_timeout', 30);
    }
  });
});
