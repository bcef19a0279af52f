/**
 * Intents and kernel snapshots for the kernel tests: two routing domains that reuse
 * 192.168.1.0/24, as HNV tenants do.
 */
import type { Backend, DomainIntent, KernelIntent, SubnetIntent } from '../../../src/kernel/intent.js';
import type { KernelObserved, KernelPlan, KernelStep } from '../../../src/kernel/kernel-port.js';

export function subnet(vsid: number, overrides: Partial<SubnetIntent> = {}): SubnetIntent {
  return {
    vsid,
    ifname: `nvgw-t${vsid}`,
    kind: 'veth',
    datapathIfname: `nvgw-d${vsid}`,
    mac: `00155d${vsid.toString(16).padStart(6, '0')}`,
    mtu: 1458,
    addresses: [{ address: '192.168.1.1', prefixLength: 24 }],
    neighbours: [{ address: '192.168.1.10', mac: `00155d0a${(vsid % 256).toString(16).padStart(2, '0')}01` }],
    ...overrides,
  };
}

export function domain(table: number, subnets: SubnetIntent[], overrides: Partial<DomainIntent> = {}): DomainIntent {
  return {
    routingDomainId: `{0000${table}-0000-0000-0000-000000000000}`,
    table,
    mark: table,
    vrfName: `nvgw-vrf-${table}`,
    subnets,
    routes: [],
    ...overrides,
  };
}

/** Domain A (table 1001, VSID 5001) and domain B (table 1002, VSID 6001), both 192.168.1.1/24. */
export function twoDomains(backend: Backend = 'policy-routing'): KernelIntent {
  return {
    backend,
    domains: [domain(1001, [subnet(5001)]), domain(1002, [subnet(6001)])],
    provider: { addresses: [], routes: [] },
  };
}

/** A kernel with only loopback, a provider NIC eth0 and the default rules. */
export function bareKernel(): KernelObserved {
  return {
    links: [
      { name: 'lo', kind: null, mac: null, mtu: 65536, up: true, master: null },
      { name: 'eth0', kind: null, mac: '525400000001', mtu: 1500, up: true, master: null },
    ],
    addresses: [{ ifname: 'eth0', address: '10.1.1.40', prefixLength: 24, protocol: 0, noPrefixRoute: false }],
    neighbours: [],
    routes: [
      { table: 254, prefix: '10.1.1.0/24', metric: 0, type: 'unicast', protocol: 2, scope: 'link', ifname: 'eth0', source: '10.1.1.40' },
      { table: 255, prefix: '10.1.1.40/32', metric: 0, type: 'local', protocol: 2, scope: 'host', ifname: 'eth0', source: '10.1.1.40' },
    ],
    rules: [
      { priority: 0, protocol: 2, table: 255, action: 'lookup', otherSelectors: false },
      { priority: 32766, protocol: 2, table: 254, action: 'lookup', otherSelectors: false },
      { priority: 32767, protocol: 2, table: 253, action: 'lookup', otherSelectors: false },
    ],
    sysctls: { 'net/ipv4/ip_forward': '1', 'net/ipv4/fwmark_reflect': '1', 'net/ipv4/tcp_fwmark_accept': '1' },
  };
}

export const ids = (plan: KernelPlan): string[] => plan.steps.map((s) => s.id);

type StepOf<K extends KernelStep['kind']> = Extract<KernelStep, { kind: K }>;

export function stepsOf<K extends KernelStep['kind'], O extends StepOf<K>['op'] = StepOf<K>['op']>(
  plan: KernelPlan,
  kind: K,
  op?: O,
): (StepOf<K> & { op: O })[] {
  return plan.steps.filter((s): s is StepOf<K> & { op: O } => s.kind === kind && (op === undefined || s.op === op));
}
