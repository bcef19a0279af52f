/**
 * Two tenants reusing 192.168.1.0/24 (blue and red) behind one NAT uplink, and a third (green)
 * routed to a provider edge: the configuration the NAT tests share, as a controller sends it.
 */
import type { FirewallIntent } from '../../../src/firewall/rules.js';
import type { NatFirewallIntent } from '../../../src/nat/intent.js';

export const BLUE = '{11111111-2222-3333-4444-000000005001}';
export const RED = '{11111111-2222-3333-4444-000000006001}';
export const GREEN = '{11111111-2222-3333-4444-000000007001}';

const rec = (ca: string, vsid: number, mac: string, pa: string) => ({ customerAddress: ca, virtualSubnetId: vsid, macAddress: mac, providerAddress: pa });
const onLink = (rd: string, vsid: number, prefix: string) => ({ routingDomainId: rd, virtualSubnetId: vsid, destinationPrefix: prefix, nextHop: '0.0.0.0' });

export function hnvPart() {
  return {
    routingDomains: [{ routingDomainId: BLUE, name: 'blue' }, { routingDomainId: RED, name: 'red' }, { routingDomainId: GREEN, name: 'green' }],
    virtualSubnets: [
      { virtualSubnetId: 5001, routingDomainId: BLUE },
      { virtualSubnetId: 6001, routingDomainId: RED },
      { virtualSubnetId: 7001, routingDomainId: GREEN },
    ],
    customerRoutes: [onLink(BLUE, 5001, '192.168.1.0/24'), onLink(RED, 6001, '192.168.1.0/24'), onLink(GREEN, 7001, '10.20.0.0/24')],
    lookupRecords: [
      rec('192.168.1.1', 5001, '00155d143c01', '10.1.1.40'),
      rec('192.168.1.101', 5001, '00155d011404', '10.1.1.20'),
      rec('192.168.1.1', 6001, '00155d146c01', '10.1.1.40'),
      rec('192.168.1.101', 6001, '00155d011404', '10.1.1.20'),
      rec('10.20.0.1', 7001, '00155d147c01', '10.1.1.40'),
      rec('10.20.0.101', 7001, '00155d017001', '10.1.1.20'),
    ],
    providerAddresses: [{ interface: 'fab0', providerAddress: '10.1.1.40', prefixLength: 24 }],
  };
}

export function externalPart() {
  return {
    externalNetworks: [
      { interface: 'ext0', name: 'internet', address: '203.0.113.2', prefixLength: 24, defaultGateway: '203.0.113.1' },
      { interface: 'rt0', name: 'provider edge', address: '198.18.0.2', prefixLength: 30, defaultGateway: '198.18.0.1' },
    ],
    natConnections: [
      {
        routingDomainId: BLUE,
        interface: 'ext0',
        externalAddresses: '203.0.113.10',
        rules: [
          { name: 'web', protocol: 'TCP', externalAddress: '203.0.113.10', externalPort: 8080, internalAddress: '192.168.1.101', internalPort: 8000 },
          { name: 'db', protocol: 'Any', externalAddress: '203.0.113.20', internalAddress: '192.168.1.102' },
        ],
      },
      {
        routingDomainId: RED,
        interface: 'ext0',
        externalAddresses: '203.0.113.10',
        rules: [
          { protocol: 'TCP', externalAddress: '203.0.113.10', externalPort: 8081, internalAddress: '192.168.1.101', internalPort: 8000 },
          { protocol: 'Any', externalAddress: '203.0.113.21', internalAddress: '192.168.1.102' },
        ],
      },
    ],
    routedConnections: [{ routingDomainId: GREEN, interface: 'rt0' }],
  };
}

export function natConfig() {
  return { ...hnvPart(), ...externalPart() };
}

/** Blue and red share 203.0.113.10 on ext0 with a port forward and a static NAT each; green is routed through rt0; grey has no connection. */
export function natIntent(): NatFirewallIntent {
  return {
    domains: [
      {
        routingDomainId: RED,
        mark: 1001,
        zone: 1001,
        ifnames: ['nvgw-t6001'],
        nat: {
          uplink: 'ext0',
          internalPrefixes: ['192.168.1.0/24'],
          uplinkPrefix: '203.0.113.0/24',
          snat: '203.0.113.10',
          statics: [{ name: '', externalAddress: '203.0.113.21', internalAddress: '192.168.1.102' }],
          forwards: [{ name: '', protocol: 'tcp', externalAddress: '203.0.113.10', externalPort: 8081, internalAddress: '192.168.1.101', internalPort: 8000 }],
        },
      },
      {
        routingDomainId: BLUE,
        mark: 1000,
        zone: 1000,
        ifnames: ['nvgw-t5001', 'nvgw-t5002'],
        nat: {
          uplink: 'ext0',
          // 203.0.0.0/8 covers the uplink's subnet: the /24 on ext0 must still count as outside.
          internalPrefixes: ['192.168.1.0/24', '192.168.2.0/24', '203.0.0.0/8'],
          uplinkPrefix: '203.0.113.0/24',
          snat: '203.0.113.10-203.0.113.11',
          statics: [{ name: 'db', externalAddress: '203.0.113.20', internalAddress: '192.168.1.102' }],
          forwards: [
            { name: 'dns', protocol: 'udp', externalAddress: '203.0.113.10', externalPort: 53, internalAddress: '192.168.1.53', internalPort: 53 },
            { name: 'web', protocol: 'tcp', externalAddress: '203.0.113.10', externalPort: 8080, internalAddress: '192.168.1.101', internalPort: 8000 },
          ],
        },
      },
      { routingDomainId: GREEN, mark: 1002, zone: 1002, ifnames: ['nvgw-t7001'], routedUplink: 'rt0' },
      { routingDomainId: '{11111111-2222-3333-4444-000000008001}', mark: 1003, zone: 7, ifnames: ['nvgw-t8001'] },
    ],
    uplinks: [{ ifname: 'ext0', natOnlyAddresses: ['203.0.113.10', '203.0.113.11', '203.0.113.20', '203.0.113.21'] }],
  };
}

/** The firewall intent of the renderer's golden test. */
export function renderIntent(): FirewallIntent {
  return {
    gatewayPas: ['10.1.1.40'],
    domainMarks: [
      { ifname: 'nvgw-t5001', mark: 1000, routingDomainId: BLUE, vsid: 5001 },
      { ifname: 'nvgw-t5002', mark: 1000, routingDomainId: BLUE, vsid: 5002 },
      { ifname: 'nvgw-t6001', mark: 1001, routingDomainId: RED, vsid: 6001 },
    ],
    domainAddresses: [{ mark: 1000, address: '192.168.1.1' }],
    nat: natIntent(),
  };
}

