import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hookedChains, renderFirewall } from '../../../src/firewall/rules.js';
import { repoRoot } from '../../support/paths.js';
import { renderIntent as intent } from './fixtures.js';

const GOLDEN = join(repoRoot, 'test', 'unit', 'nat', 'nat-firewall.golden');

const rulesOf = (text: string, chain: string) => text.split('\n').filter((l) => l.startsWith(`-A ${chain} `));

describe('the NAT renderer', () => {
  it('renders zones, marks, NAT and filters exactly as the golden file says', () => {
    assert.equal(renderFirewall(intent()), readFileSync(GOLDEN, 'utf8'));
  });

  it('declares only NVGW-* chains and tags every rule with a comment', () => {
    for (const line of renderFirewall(intent()).split('\n')) {
      if (line.startsWith(':')) assert.match(line, /^:NVGW-[A-Za-z0-9-]+ - \[0:0\]$/);
      if (line.startsWith('-A')) {
        assert.match(line, /^-A NVGW-/);
        assert.match(line, /-m comment --comment "nvgw: [^"]+"/);
      }
    }
  });

  it('binds every translation to an uplink, so a second pass through a VRF device never matches', () => {
    const lines = renderFirewall(intent()).split('\n');
    const dnat = lines.filter((l) => / -j DNAT /.test(l));
    const toSnat = lines.filter((l) => / -g NVGW-S-/.test(l));
    assert.equal(dnat.length, 5);
    assert.equal(toSnat.length, 2);
    for (const line of dnat) assert.match(line, / -i ext0 /, line);
    for (const line of toSnat) assert.match(line, / -o ext0 /, line);
  });

  it('sends every tenant interface to its own domain\'s zone chain, once, in both directions, through its bucket', () => {
    const text = renderFirewall(intent());
    for (const [ifname, chain] of [['nvgw-t5001', 'NVGW-Z-3e8'], ['nvgw-t5002', 'NVGW-Z-3e8'], ['nvgw-t6001', 'NVGW-Z-3e9'], ['nvgw-t8001', 'NVGW-Z-3eb']] as const) {
      for (const [top, dir] of [['NVGW-ZONES', '-i'], ['NVGW-ZONES-OUT', '-o']] as const) {
        const buckets = rulesOf(text, top).filter((l) => ifname.startsWith(/ -[io] (\S+)\+ /.exec(l)?.[1] ?? '-') && l.includes(` ${dir} `));
        assert.equal(buckets.length, 1, `${top} has one bucket for ${ifname}`);
        const bucket = buckets[0]!.split(' -g ')[1]!;
        assert.equal(rulesOf(text, bucket).filter((l) => l.includes(` ${dir} ${ifname} `)).map((l) => l.split(' -g ')[1]).join(), chain);
      }
    }
  });

  it('puts a longer interface bucket first, so nvgw-t50012 is not caught by the bucket of nvgw-t5001', () => {
    const wide = intent();
    wide.nat!.domains.push({ routingDomainId: '{11111111-2222-3333-4444-000000050012}', mark: 1004, zone: 1004, ifnames: ['nvgw-t50012'] });
    const top = rulesOf(renderFirewall(wide), 'NVGW-ZONES').map((l) => /-i (nvgw-t\d+)\+/.exec(l)?.[1]).filter(Boolean);
    assert.ok(top.indexOf('nvgw-t5001') < top.indexOf('nvgw-t500'), top.join(' '));
  });

  it('keeps chains short: one domain\'s change rewrites small chains, never a list of all domains', () => {
    const many = intent();
    for (let i = 0; i < 400; i++) {
      many.nat!.domains.push({
        routingDomainId: `{11111111-2222-3333-4444-${String(900000 + i).padStart(12, '0')}}`,
        mark: 2000 + i,
        zone: 2000 + i,
        ifnames: [`nvgw-t${9000 + i}`],
        nat: { uplink: 'ext0', internalPrefixes: ['192.168.1.0/24'], uplinkPrefix: '203.0.113.0/24', snat: '198.51.100.1', statics: [{ name: '', externalAddress: `198.18.${i >> 8}.${i & 255}`, internalAddress: '192.168.1.9' }], forwards: [] },
      });
    }
    const chains = new Map<string, number>();
    for (const line of renderFirewall(many).split('\n').filter((l) => l.startsWith('-A '))) chains.set(line.split(' ')[1]!, (chains.get(line.split(' ')[1]!) ?? 0) + 1);
    const longest = [...chains].filter(([chain]) => !['NVGW-PREROUTING', 'NVGW-INPUT'].includes(chain)).sort((a, b) => b[1] - a[1])[0]!;
    // Dispatch chains hold a bucket per ten interfaces or per /29; the rest hold one domain's rules.
    assert.ok(longest[1] <= 400 / 4, `${longest[0]} has ${longest[1]} rules for 400 domains`);
  });

  it('keeps a NAT domain\'s own prefixes in its zone both ways and sends the rest out with zone-orig, the uplink subnet before a covering prefix', () => {
    const zone = rulesOf(renderFirewall(intent()), 'NVGW-Z-3e8').map((l) => `${/-[sd] (\S+)/.exec(l)?.[0] ?? 'any'} ${/--zone(-orig)? \d+/.exec(l)?.[0] ?? ''}`);
    assert.deepEqual(zone, [
      '-s 192.168.1.102/32 --zone 1000',
      '-d 192.168.1.0/24 --zone 1000',
      '-d 192.168.2.0/24 --zone 1000',
      '-d 203.0.113.0/24 --zone-orig 1000',
      '-d 203.0.0.0/8 --zone 1000',
      'any --zone-orig 1000',
    ]);
  });

  it('puts a domain without NAT wholly in its zone and gives a routed uplink the domain\'s zone and mark', () => {
    const text = renderFirewall(intent());
    assert.deepEqual(rulesOf(text, 'NVGW-Z-3eb').map((l) => l.split(' -j ')[1]), ['CT --zone 7']);
    assert.ok(rulesOf(text, 'NVGW-ZONES').some((l) => l.includes('-i rt0 ') && l.endsWith('-g NVGW-Z-3ea')));
    assert.ok(rulesOf(text, 'NVGW-CONNMARK').some((l) => l.includes('-i rt0 ') && l.endsWith('MARK --set-xmark 0x3ea/0xffffffff')));
    assert.ok(!text.includes('NVGW-C-3ea'), 'a routed domain needs no connection guard');
  });

  it('marks connections opened from the uplink before restoring every connection\'s mark', () => {
    const text = renderFirewall(intent());
    const rules = rulesOf(text, 'NVGW-CONNMARK').filter((l) => l.includes('-i ext0 '));
    assert.deepEqual(rules.map((l) => l.split(' -j ')[1]?.split(' ')[0]), ['NVGW-CONNMARK-NEW', 'CONNMARK']);
    assert.match(rules[0]!, /--ctstate NEW/);
    assert.match(rules[1]!, /CONNMARK --restore-mark/);
    const opened = text.split('\n').filter((l) => l.startsWith('-A NVGW-CN-') && l.includes('CONNMARK --set-xmark'));
    assert.equal(opened.length, 5, 'two statics and three forwards');
  });

  it('gives a SNAT range --persistent, so a CA keeps one external address', () => {
    const text = renderFirewall(intent());
    assert.ok(rulesOf(text, 'NVGW-S-3e8').at(-1)!.endsWith('-j SNAT --to-source 203.0.113.10-203.0.113.11 --persistent'));
    assert.ok(rulesOf(text, 'NVGW-S-3e9').at(-1)!.endsWith('-j SNAT --to-source 203.0.113.10'));
  });

  it('hooks the NAT chains into the built-in chains only when the intent has NAT', () => {
    assert.deepEqual(hookedChains({ ...intent(), nat: undefined }).map((h) => `${h.table} ${h.chain}`), ['raw NVGW-PREROUTING', 'mangle NVGW-PREROUTING', 'filter NVGW-INPUT']);
    assert.ok(hookedChains(intent()).some((h) => h.table === 'nat' && h.chain === 'NVGW-POSTROUTING' && h.from === 'POSTROUTING'));
  });
});
