/**
 * The NAT-with-offload scenario two tiers run: the namespace tier against Open vSwitch
 * (test/system/nat/offload.test.ts) and the VM tier against the kernel's gretap on a kernel
 * without tcx (test/system/vrf/nat-offload.vm.ts). One blue VM behind host h1; nvgw NATs
 * it onto an external network and forwards a UDP and a TCP port to it.
 *
 *   fabric ── h1 10.1.1.20: b1 blue 192.168.1.101 (VSID 5001)
 *          ── gw 10.1.1.40: nvgw
 *   gw ext0 203.0.113.2/24 ── ext 203.0.113.1 (also the network's default gateway)
 *      NAT: blue -> 203.0.113.10; UDP 203.0.113.10:5353 -> b1:53; TCP 203.0.113.10:8080 -> b1:8000
 */
import { join } from 'node:path';
import { repoRoot } from '../../../support/paths.js';
import { BLUE } from '../../../unit/nat/fixtures.js';

export { BLUE };
export const GW_PA = '10.1.1.40';
export const H1 = '10.1.1.20';
export const EXT = '203.0.113.1';
export const NAT_ADDRESS = '203.0.113.10';
export const B1 = { ip: '192.168.1.101', mac: '00:15:5d:01:14:04' };
export const UDP_ECHO = join(repoRoot, 'dist', 'test', 'system', 'nat', 'support', 'udp-echo.js');
export const TCP_ECHO = join(repoRoot, 'dist', 'test', 'system', 'nat', 'support', 'echo.js');

/** The scenario's whole configuration, as PUT /v1/config takes it. */
export function offloadScenarioState() {
  return {
    routingDomains: [{ routingDomainId: BLUE, name: 'blue' }],
    virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: BLUE }],
    customerRoutes: [{ routingDomainId: BLUE, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0' }],
    lookupRecords: [
      { customerAddress: '192.168.1.1', virtualSubnetId: 5001, macAddress: '00155d143c01', providerAddress: GW_PA },
      { customerAddress: B1.ip, virtualSubnetId: 5001, macAddress: B1.mac, providerAddress: H1 },
    ],
    providerAddresses: [{ interface: 'fab0', providerAddress: GW_PA, prefixLength: 24 }],
    externalNetworks: [{ interface: 'ext0', name: 'internet', address: '203.0.113.2', prefixLength: 24, defaultGateway: EXT }],
    natConnections: [
      {
        routingDomainId: BLUE,
        interface: 'ext0',
        externalAddresses: NAT_ADDRESS,
        rules: [
          { name: 'dns', protocol: 'UDP', externalAddress: NAT_ADDRESS, externalPort: 5353, internalAddress: B1.ip, internalPort: 53 },
          { name: 'web', protocol: 'TCP', externalAddress: NAT_ADDRESS, externalPort: 8080, internalAddress: B1.ip, internalPort: 8000 },
        ],
      },
    ],
  };
}

/** /v1/status datapath.offload, as far as the scenario's tests read it. */
export interface OffloadStatus {
  offloaded: number;
  installed: number;
  returned: number;
  refreshes: number;
  inboundUplinks: number;
  refused: Record<string, number>;
}
