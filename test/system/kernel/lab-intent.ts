/**
 * The gateway the kernel system tests build: two routing domains that reuse the same
 * addresses, as HNV tenants do.
 *
 *   domain A, table/mark 1001: VSID 5001 192.168.1.1/24 (VM a1 192.168.1.10)
 *                              VSID 5002 192.168.2.1/24 (VM a2 192.168.2.20)
 *                              10.20.0.0/16 via 192.168.1.254
 *   domain B, table/mark 1002: VSID 6001 192.168.1.1/24 and 192.168.1.2/24 (VM b1 192.168.1.10)
 *                              VSID 6002 192.168.2.1/24 (VM b2 192.168.2.20)
 *                              VSID 6003 192.168.3.1/24 on a tap (no VM)
 *   provider: PA 10.1.1.41/24 on prov0 (a link nvgw does not own), 10.2.0.0/16 via 10.1.1.1
 */
import type { DomainIntent, KernelIntent, SubnetIntent } from '../../../src/kernel/intent.js';

export const VM = {
  a1: { mac: '00:15:5d:0a:01:10', address: '192.168.1.10', gateway: '192.168.1.1' },
  a2: { mac: '00:15:5d:0a:02:20', address: '192.168.2.20', gateway: '192.168.2.1' },
  b1: { mac: '00:15:5d:0b:01:10', address: '192.168.1.10', gateway: '192.168.1.1' },
  b2: { mac: '00:15:5d:0b:02:20', address: '192.168.2.20', gateway: '192.168.2.1' },
} as const;

const canonical = (mac: string): string => mac.replaceAll(':', '');

function veth(vsid: number, mac: string, addresses: string[], neighbours: { address: string; mac: string }[]): SubnetIntent {
  return {
    vsid,
    ifname: `nvgw-t${vsid}`,
    kind: 'veth',
    datapathIfname: `nvgw-d${vsid}`,
    mac,
    mtu: 1458,
    addresses: addresses.map((a) => ({ address: a, prefixLength: 24 })),
    neighbours: neighbours.map((n) => ({ address: n.address, mac: canonical(n.mac) })),
  };
}

export function domainA(): DomainIntent {
  return {
    routingDomainId: '{aaaaaaaa-0000-0000-0000-000000000001}',
    table: 1001,
    mark: 1001,
    vrfName: 'nvgw-vrf-1001',
    subnets: [veth(5001, '00155d000001', ['192.168.1.1'], [VM.a1]), veth(5002, '00155d000002', ['192.168.2.1'], [VM.a2])],
    routes: [{ prefix: '10.20.0.0/16', type: 'unicast', nextHop: '192.168.1.254', metric: 0 }],
  };
}

export function domainB(): DomainIntent {
  return {
    routingDomainId: '{bbbbbbbb-0000-0000-0000-000000000002}',
    table: 1002,
    mark: 1002,
    vrfName: 'nvgw-vrf-1002',
    subnets: [
      veth(6001, '00155d000101', ['192.168.1.1', '192.168.1.2'], [VM.b1]),
      veth(6002, '00155d000102', ['192.168.2.1'], [VM.b2]),
      {
        vsid: 6003,
        ifname: 'nvgw-t6003',
        kind: 'tap',
        datapathIfname: 'nvgw-t6003',
        mac: '00155d000103',
        mtu: 1458,
        addresses: [{ address: '192.168.3.1', prefixLength: 24 }],
        neighbours: [],
      },
    ],
    routes: [],
  };
}

export function gatewayIntent(domains: DomainIntent[] = [domainA(), domainB()]): KernelIntent {
  return {
    backend: 'policy-routing',
    domains,
    provider: {
      addresses: [{ ifname: 'prov0', address: '10.1.1.41', prefixLength: 24 }],
      routes: [{ prefix: '10.2.0.0/16', type: 'unicast', nextHop: '10.1.1.1', ifname: 'prov0', metric: 0 }],
    },
  };
}

export const TENANT_LINKS = ['nvgw-t5001', 'nvgw-t5002', 'nvgw-t6001', 'nvgw-t6002', 'nvgw-t6003'];
