/**
 * The lab's topology: the classic Hyper-V Network Virtualization example (the blue tenant,
 * routing domain {11111111-2222-3333-4444-000000005001}), a second tenant with the same
 * 192.168.1.0/24, and an "Internet" host behind the gateway's uplink. Pure data: lab.ts builds it.
 *
 *   fabric br0 ── h1 10.1.1.20: hv3-blue01 (5001, 192.168.1.101)
 *   (10.1.1.0/24) ── h2 10.1.1.30: hv3-blue02 (5001, 192.168.1.102)
 *              ── h3 10.1.1.50: blue03 (5002, 192.168.2.101), red01 (red 6001, 192.168.1.101)
 *              ── gw 10.1.1.40: nvgw; CAs 192.168.1.1 + 192.168.2.250 (blue), 192.168.1.1 (red)
 *   gw up0 203.0.113.1 ── inet eth0 203.0.113.10 (the "Internet": no route to any CA)
 *
 * In HNV's example 10.1.1.40 is the gateway's PA, so the gateway has it here and the third
 * host is 10.1.1.50.
 */

export const BLUE = '{11111111-2222-3333-4444-000000005001}';
export const RED = '{11111111-2222-3333-4444-000000006001}';
export const GW_PA = '10.1.1.40';
export const HOST_PA = { h1: '10.1.1.20', h2: '10.1.1.30', h3: '10.1.1.50' } as const;
export const API_PORT = 8470;
export const FABRIC_IF = 'fab0';
export const UPLINK_IF = 'up0';
export const INET = { address: '203.0.113.10', gatewayAddress: '203.0.113.1', prefixLength: 24 } as const;
export const PORT_FORWARD = { externalPort: 8080, internalAddress: '192.168.1.101', internalPort: 80 } as const;

/** Every namespace role of the lab, so `down` can find them by name even without a state file. */
export const ROLES = ['fabric', 'gw', 'inet', 'h1', 'h2', 'h3', 'blue01', 'blue02', 'blue03', 'red01'] as const;

export interface LabVm {
  /** Namespace role (1-12 of [a-z0-9]). */
  name: string;
  /** The VM's name in the HNV policy. */
  vmName: string;
  host: keyof typeof HOST_PA;
  ip: string;
  mac: string;
  vsid: number;
  gateway: string;
}

/*
 * Why the VMs of VSID 5001 use 192.168.1.1, a gateway CA in their own VSID: HNV hosts route
 * between the VSIDs of a domain themselves (the customer route 0.0.0.0/0 via 192.168.2.250 is
 * for them), but Open vSwitch hosts are plain L2 tunnel endpoints. A VM on them can only
 * reach an on-link next hop, so the gateway also owns a CA in 5001.
 */
export const VMS: readonly LabVm[] = [
  { name: 'blue01', vmName: 'hv3-blue01', host: 'h1', ip: '192.168.1.101', mac: '00:15:5d:01:14:04', vsid: 5001, gateway: '192.168.1.1' },
  { name: 'blue02', vmName: 'hv3-blue02', host: 'h2', ip: '192.168.1.102', mac: '00:15:5d:01:1e:04', vsid: 5001, gateway: '192.168.1.1' },
  { name: 'blue03', vmName: 'hv3-blue03', host: 'h3', ip: '192.168.2.101', mac: '00:15:5d:02:2a:01', vsid: 5002, gateway: '192.168.2.250' },
  // The other tenant reuses blue01's address and MAC: only the VSID tells them apart.
  { name: 'red01', vmName: 'red01', host: 'h3', ip: '192.168.1.101', mac: '00:15:5d:01:14:04', vsid: 6001, gateway: '192.168.1.1' },
];

/** Per host, the VSIDs it carries and the PAs it tunnels each to (what the lookup records imply). */
export const TUNNELS: Record<keyof typeof HOST_PA, Array<{ vsid: number; remotePa: string }>> = {
  h1: [{ vsid: 5001, remotePa: GW_PA }, { vsid: 5001, remotePa: HOST_PA.h2 }],
  h2: [{ vsid: 5001, remotePa: GW_PA }, { vsid: 5001, remotePa: HOST_PA.h1 }],
  // 5002's wildcard record (CA 0.0.0.0) points at the gateway: everything off-VM goes there.
  h3: [{ vsid: 5002, remotePa: GW_PA }, { vsid: 6001, remotePa: GW_PA }],
};

const lr = (vsid: number, ca: string, pa: string, mac: string, vmName: string): string =>
  `New-NetVirtualizationLookupRecord -VirtualSubnetID ${vsid} -CustomerAddress ${ca} -ProviderAddress ${pa} -MACAddress ${mac} -Rule TranslationMethodEncap -VMName "${vmName}"`;
const cr = (rdid: string, vsid: number, prefix: string, nextHop: string): string =>
  `New-NetVirtualizationCustomerRoute -RoutingDomainID "${rdid}" -VirtualSubnetID ${vsid} -DestinationPrefix ${prefix} -NextHop ${nextHop} -Metric 255`;
const hnvMac = (mac: string): string => mac.replace(/:/g, '').toUpperCase();

/**
 * The lab's policy as the HNV PowerShell an administrator would run, applied by `nvgwctl hnv`
 * (the provider plugin) exactly as a controller would push it.
 */
export function labPolicyScript(): string {
  return [
    '<# nvgw lab: the HNV example (blue) and a second tenant (red) with the same 192.168.1.0/24 #>',
    ...VMS.filter((vm) => vm.vsid !== 6001).map((vm) => lr(vm.vsid, vm.ip, HOST_PA[vm.host], hnvMac(vm.mac), vm.vmName)),
    lr(5002, '192.168.2.250', GW_PA, '00155D143C02', 'hnv-gateway'),
    lr(5002, '0.0.0.0', GW_PA, '00155D143C02', 'hnv-gateway-wildcard'),
    '# The gateway\'s CA in 5001: the OVS hosts do not route, so 5001\'s VMs need an on-link next hop.',
    lr(5001, '192.168.1.1', GW_PA, '00155D143C01', 'hnv-gateway-5001'),
    cr(BLUE, 5001, '192.168.1.0/24', '0.0.0.0'),
    cr(BLUE, 5002, '192.168.2.0/24', '0.0.0.0'),
    cr(BLUE, 5001, '0.0.0.0/0', '192.168.2.250'),
    cr(BLUE, 5002, '0.0.0.0/0', '192.168.2.250'),
    '# The red tenant',
    cr(RED, 6001, '192.168.1.0/24', '0.0.0.0'),
    lr(6001, '192.168.1.101', HOST_PA.h3, '00155D011404', 'red01'),
    lr(6001, '192.168.1.1', GW_PA, '00155D146C01', 'red-gateway'),
    `New-NetVirtualizationProviderAddress -InterfaceAlias ${FABRIC_IF} -ProviderAddress ${GW_PA} -PrefixLength 24`,
    '',
  ].join('\n');
}

/** The external network and NAT connection (issue 5's resources), for builds that have them. */
export function natResources() {
  return {
    externalNetwork: { interface: UPLINK_IF, name: 'internet', address: INET.gatewayAddress, prefixLength: INET.prefixLength, defaultGateway: '' },
    natConnection: {
      routingDomainId: BLUE,
      name: 'blue-internet',
      interface: UPLINK_IF,
      externalAddresses: INET.gatewayAddress,
      rules: [{ name: 'web-to-blue01', protocol: 'TCP', externalAddress: INET.gatewayAddress, externalPort: PORT_FORWARD.externalPort, internalAddress: PORT_FORWARD.internalAddress, internalPort: PORT_FORWARD.internalPort }],
    },
  };
}
