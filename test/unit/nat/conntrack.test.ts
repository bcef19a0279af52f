import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConntrackLine, summarizeConntrack } from '../../../src/nat/conntrack.js';
import { BLUE, RED } from './fixtures.js';

// Lines as Linux 6.x prints them in /proc/net/nf_conntrack.
const BLUE_PING = 'ipv4     2 icmp     1 29 src=192.168.1.101 dst=198.51.100.5 type=8 code=0 id=4242 zone-orig=1000 src=198.51.100.5 dst=203.0.113.10 type=0 code=0 id=4242 mark=1000 use=1';
const RED_PING = 'ipv4     2 icmp     1 28 src=192.168.1.101 dst=198.51.100.5 type=8 code=0 id=4242 zone-orig=1001 src=198.51.100.5 dst=203.0.113.10 type=0 code=0 id=12 mark=1001 use=1';
const BLUE_FORWARD = 'ipv4     2 tcp      6 431999 ESTABLISHED src=198.51.100.5 dst=203.0.113.10 sport=40000 dport=8080 src=192.168.1.101 dst=198.51.100.5 sport=8000 dport=40000 [ASSURED] mark=1000 use=1';
const RED_INSIDE = 'ipv4     2 udp      17 25 src=192.168.1.101 dst=192.168.1.1 sport=5353 dport=53 [UNREPLIED] src=192.168.1.1 dst=192.168.1.101 sport=53 dport=5353 mark=1001 zone=1001 use=1';
const HOST = 'ipv4     2 tcp      6 300 ESTABLISHED src=10.0.0.1 dst=10.0.0.2 sport=22 dport=5555 src=10.0.0.2 dst=10.0.0.1 sport=5555 dport=22 [ASSURED] mark=0 use=1';

const domains = [
  { routingDomainId: BLUE, zone: 1000, mark: 1000 },
  { routingDomainId: RED, zone: 1001, mark: 1001 },
];

describe('the conntrack table reader', () => {
  it('reads an ICMP connection with a zone for the original direction only', () => {
    const e = parseConntrackLine(RED_PING)!;
    assert.deepEqual(e.original, { source: '192.168.1.101', destination: '198.51.100.5', icmpType: 8, icmpCode: 0, icmpId: 4242 });
    assert.deepEqual(e.reply, { source: '198.51.100.5', destination: '203.0.113.10', icmpType: 0, icmpCode: 0, icmpId: 12 });
    assert.deepEqual([e.protocol, e.zone, e.zoneDirection, e.mark, e.timeoutSeconds], ['icmp', 1001, 'original', 1001, 28]);
  });

  it('reads TCP state and flags, and a connection in the default zone', () => {
    const e = parseConntrackLine(BLUE_FORWARD)!;
    assert.deepEqual([e.state, e.assured, e.unreplied, e.zone, e.zoneDirection], ['ESTABLISHED', true, false, 0, 'none']);
    assert.deepEqual(e.original, { source: '198.51.100.5', destination: '203.0.113.10', sourcePort: 40000, destinationPort: 8080 });
    assert.deepEqual(parseConntrackLine(RED_INSIDE)!.zoneDirection, 'both');
    assert.equal(parseConntrackLine(RED_INSIDE)!.unreplied, true);
  });

  it('skips what is not an IPv4 connection line', () => {
    assert.equal(parseConntrackLine('ipv6     10 udp      17 20 src=::1 dst=::1 sport=1 dport=2 src=::1 dst=::1 sport=2 dport=1 mark=0 use=1'), undefined);
    assert.equal(parseConntrackLine(''), undefined);
  });

  it('counts every domain\'s connections by zone, or by mark in the default zone, and leaves the host\'s out', async () => {
    const result = await summarizeConntrack([BLUE_PING, RED_PING, BLUE_FORWARD, RED_INSIDE, HOST], domains, { limit: 100 });
    assert.deepEqual(result.domains.map((d) => [d.routingDomainId, d.connections]), [[BLUE, 2], [RED, 2]]);
    assert.equal(result.total, 5);
    assert.equal(result.items.length, 4);
    assert.equal(result.truncated, false);
  });

  it('lists one domain\'s connections, at most limit of them, and says when it cut the list', async () => {
    const result = await summarizeConntrack([BLUE_PING, RED_PING, BLUE_FORWARD, RED_INSIDE], domains, { routingDomainId: RED, limit: 1 });
    assert.deepEqual(result.domains, [{ routingDomainId: RED, zone: 1001, mark: 1001, connections: 2 }]);
    assert.deepEqual(result.items.map((i) => [i.routingDomainId, i.protocol]), [[RED, 'icmp']]);
    assert.equal(result.truncated, true);
  });
});
