/**
 * NAT at scale, against the real iptables-restore (iptables-nft) and kernel in a scratch
 * network namespace (root): 1,000 routing domains, each with a tenant interface, two customer
 * routes, SNAT to an external address it shares with nine other domains, a port forward and a
 * static 1:1 mapping, all behind one uplink. Prints, in that order:
 *   - the rule count;
 *   - the time to apply NAT for all 1,000 domains (start: read back, test, restore; goal <= 10 s);
 *   - the time to apply one domain's change at that scale (goal <= 200 ms): a port forward
 *     added, a domain added, a domain deleted;
 *   - the time of a resync at that scale (read back, compare, rewrite what drifted).
 * Each apply goes through the external intent and the renderer as a reconcile pass does; the
 * changes are applied to the desired state as the config service applies them. With `vrf`,
 * the policy-routing backend's per-VSID mark and INPUT rules (not NAT's) are left out. Run by
 * hand, never in CI:
 *
 *   node dist/test/bench/nat/nat-bench.js [domains] [vrf]
 */
import { performance } from 'node:perf_hooks';
import { renderFirewall } from '../../../src/firewall/rules.js';
import type { FirewallIntent } from '../../../src/firewall/rules.js';
import { parseRuleset, ruleCount } from '../../../src/firewall/ruleset.js';
import type { Change } from '../../../src/model/desired-state.js';
import { DesiredState } from '../../../src/model/desired-state.js';
import { withExternal } from '../../../src/nat/intent.js';
import { buildKernelIntent } from '../../../src/reconciler/kernel-intent.js';
import { createLab } from '../../support/netns.js';
import { nsFirewall, nsRunner } from '../../system/nat/support/ns-iptables.js';

const DOMAINS = Number(process.argv[2] ?? 1000);
/** `vrf`: the vrf backend's firewall, without the policy-routing backend's per-VSID mark and INPUT rules. */
const BACKEND = process.argv[3] === 'vrf' ? 'vrf' : 'policy-routing';
const GW_PA = '10.1.1.40';

const rd = (i: number) => `{11111111-2222-3333-4444-${(0x10000 + i).toString(16).padStart(12, '0')}}`;
const ext = (n: number) => `10.200.${n >> 8}.${n & 255}`;

/** The desired state of `count` NAT domains. */
function document(count: number) {
  const doc = {
    routingDomains: [] as object[],
    virtualSubnets: [] as object[],
    customerRoutes: [] as object[],
    lookupRecords: [] as object[],
    providerAddresses: [{ interface: 'fab0', providerAddress: GW_PA, prefixLength: 24 }],
    externalNetworks: [{ interface: 'ext0', address: '10.200.0.2', prefixLength: 16, defaultGateway: '10.200.0.1' }],
    natConnections: [] as object[],
  };
  for (let i = 0; i < count; i++) {
    const vsid = 5000 + i;
    doc.routingDomains.push({ routingDomainId: rd(i) });
    doc.virtualSubnets.push({ virtualSubnetId: vsid, routingDomainId: rd(i) });
    doc.customerRoutes.push({ routingDomainId: rd(i), virtualSubnetId: vsid, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0' });
    doc.customerRoutes.push({ routingDomainId: rd(i), virtualSubnetId: vsid, destinationPrefix: '10.99.0.0/16', nextHop: '192.168.1.254' });
    doc.lookupRecords.push({ customerAddress: '192.168.1.1', virtualSubnetId: vsid, macAddress: '00155d140001', providerAddress: GW_PA });
    const shared = ext(256 + Math.floor(i / 10));
    const rules: object[] = [
      { protocol: 'TCP', externalAddress: shared, externalPort: 10000 + i, internalAddress: '192.168.1.10', internalPort: 80 },
      { protocol: 'Any', externalAddress: ext(2048 + i), internalAddress: '192.168.1.20' },
    ];
    doc.natConnections.push({ routingDomainId: rd(i), interface: 'ext0', externalAddresses: shared, rules });
  }
  return doc;
}

const tableOf = (id: string) => 1000 + parseInt(id.slice(-13, -1), 16) - 0x10000;

/** What the reconciler hands the firewall for a state (table = mark = zone = 1000 + index). */
function intentOf(state: DesiredState): FirewallIntent {
  const { kernel, firewall } = withExternal(state, buildKernelIntent(state, { backend: BACKEND, tenantKind: 'veth', tenantMtu: 1458, tableOf }), tableOf);
  const pr = BACKEND === 'policy-routing';
  return {
    gatewayPas: [GW_PA],
    domainMarks: pr ? kernel.domains.flatMap((d) => d.subnets.map((s) => ({ ifname: s.ifname, mark: d.mark, routingDomainId: d.routingDomainId, vsid: s.vsid }))) : [],
    domainAddresses: pr ? kernel.domains.flatMap((d) => d.subnets.flatMap((s) => s.addresses.map((a) => ({ mark: d.mark, address: a.address })))) : [],
    nat: firewall,
  };
}

function report(what: string, ms: number, goalMs?: number): void {
  console.log(`${what.padEnd(62)} ${ms.toFixed(0).padStart(7)} ms${goalMs === undefined ? '' : `   (goal <= ${goalMs} ms: ${ms <= goalMs ? 'met' : 'MISSED'})`}`);
}

/** Time spent in iptables-save/-restore processes since the last reset. */
let inProcesses = 0;

interface Sample {
  apply: number;
  processes: number;
  intent: number;
}

/** One reconcile pass's firewall part: desired state -> intents (timed apart), then the apply. */
async function apply(firewall: ReturnType<typeof nsFirewall>, state: DesiredState, options: { full?: boolean } = {}): Promise<Sample> {
  const t0 = performance.now();
  const intent = intentOf(state);
  const t1 = performance.now();
  inProcesses = 0;
  await firewall.apply(intent, options);
  return { apply: performance.now() - t1, processes: inProcesses, intent: t1 - t0 };
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

function print(what: string, samples: Sample[], goalMs?: number): void {
  const n = samples.length > 1 ? ` (median of ${samples.length})` : '';
  report(`${what}${n}`, median(samples.map((s) => s.apply)), goalMs);
  report('    of which the iptables processes', median(samples.map((s) => s.processes)));
  report('    before it, desired state -> kernel and NAT intent', median(samples.map((s) => s.intent)));
}

/** Changes the state as the config service does (plan, then apply). */
function change(state: DesiredState, plan: Change[]): void {
  state.apply(plan);
}

const ROUNDS = 7;

const lab = await createLab('nvnatb');
try {
  const ns = await lab.namespace('gw');
  const run = nsRunner(lab, ns);
  const firewall = nsFirewall(lab, ns, async (file, args, input) => {
    const start = performance.now();
    const result = await run(file, args, input);
    inProcesses += performance.now() - start;
    return result;
  });
  console.log(`# NAT for ${DOMAINS} routing domains (${BACKEND} backend's firewall), real iptables-restore (${(await lab.exec(ns, ['iptables', '--version'])).stdout.trim()}) in namespace ${ns}`);
  const state = DesiredState.fromDocument(document(DOMAINS));
  const text = renderFirewall(intentOf(state));
  console.log(`${'rules rendered'.padEnd(62)} ${String(ruleCount(parseRuleset(text))).padStart(7)}   (${(text.length / 1e6).toFixed(1)} MB of iptables-restore input, ${text.split('\n').filter((l) => l.startsWith(':')).length} chains)`);
  print(`NAT for ${DOMAINS} domains at start (save, test, restore)`, [await apply(firewall, state)], 10_000);
  const { stdout } = await lab.exec(ns, ['iptables-save']);
  console.log(`${'rules in the kernel (iptables-save: NVGW-* chains and jumps)'.padEnd(62)} ${String(stdout.split('\n').filter((l) => l.startsWith('-A ') && l.includes('NVGW-')).length).padStart(7)}`);

  const first = state.get('natConnections', rd(0))!;
  const withForward = { ...first, rules: [...first.rules, { name: '', protocol: 'UDP' as const, externalAddress: first.externalAddresses, externalPort: 53, internalAddress: '192.168.1.53', internalPort: 53 }] };
  const extra = DesiredState.fromDocument(document(DOMAINS + 1));
  const id = rd(DOMAINS);
  const vsid = 5000 + DOMAINS;
  const addDomain: Change[] = [
    { kind: 'routingDomains', key: id, item: extra.get('routingDomains', id)! },
    { kind: 'virtualSubnets', key: String(vsid), item: extra.get('virtualSubnets', String(vsid))! },
    ...[...extra.routesOf(vsid)].map((r) => ({ kind: 'customerRoutes' as const, key: `${r.routingDomainId}|${r.virtualSubnetId}|${r.destinationPrefix}`, item: r })),
    ...[...extra.recordsOf(vsid)].map((r) => ({ kind: 'lookupRecords' as const, key: `${r.virtualSubnetId}|${r.customerAddress}`, item: r })),
    { kind: 'natConnections', key: id, item: extra.get('natConnections', id)! },
  ];
  const samples: Record<'forwardAdded' | 'forwardRemoved' | 'domainAdded' | 'domainDeleted', Sample[]> = { forwardAdded: [], forwardRemoved: [], domainAdded: [], domainDeleted: [] };
  for (let round = 0; round < ROUNDS; round++) {
    change(state, state.planWrite('natConnections', withForward, 'replace'));
    samples.forwardAdded.push(await apply(firewall, state));
    change(state, state.planWrite('natConnections', first, 'replace'));
    samples.forwardRemoved.push(await apply(firewall, state));
    change(state, addDomain);
    samples.domainAdded.push(await apply(firewall, state));
    change(state, state.planRemove('routingDomains', id, true));
    samples.domainDeleted.push(await apply(firewall, state));
  }
  print('one domain\'s change: a port forward added', samples.forwardAdded, 200);
  print('one domain\'s change: that port forward removed', samples.forwardRemoved, 200);
  print('one domain\'s change: a NAT domain added', samples.domainAdded, 200);
  print('one domain\'s change: that domain deleted', samples.domainDeleted, 200);
  print(`resync at ${DOMAINS} domains, nothing drifted (save, compare)`, [await apply(firewall, state, { full: true })]);
  await lab.exec(ns, ['iptables', '-t', 'nat', '-F', 'NVGW-POSTROUTING']);
  print(`resync at ${DOMAINS} domains after a flushed chain (save, compare, test, restore)`, [await apply(firewall, state, { full: true })]);
} finally {
  await lab.destroy();
}
