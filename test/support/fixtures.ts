/** Generated desired states of a given size, for durability tests and benchmarks. */
import type { ConfigDocument, LookupRecord } from '../../src/model/resources.js';

export const BLUE_RD = '{11111111-2222-3333-4444-000000005001}';

/** The n-th CA in 10.0.0.0/8, skipping .0 and .255 for realism. */
export function nthCustomerAddress(n: number): string {
  const host = Math.floor(n / 254) * 256 + (n % 254) + 1;
  return `10.${(host >>> 16) & 255}.${(host >>> 8) & 255}.${host & 255}`;
}

export function nthRecord(n: number, vsid = 5001): LookupRecord {
  const mac = `00155d${(n + 1).toString(16).padStart(6, '0')}`;
  return {
    customerAddress: nthCustomerAddress(n),
    virtualSubnetId: vsid,
    macAddress: mac,
    providerAddress: `172.16.${(n >>> 8) & 255}.${(n & 255) + 1 > 254 ? 254 : (n & 255) + 1}`,
    rule: 'TranslationMethodEncap',
    vmName: `vm-${n}`,
    useVmMacAddress: false,
    context: '',
    customerId: '',
  };
}

/** One routing domain, one VSID with 10.0.0.0/8 on-link, and `records` lookup records. */
export function stateWithRecords(records: number): ConfigDocument {
  return {
    routingDomains: [{ routingDomainId: BLUE_RD, name: 'blue', customerId: '' }],
    virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: BLUE_RD, name: 'blue-5001' }],
    customerRoutes: [{ routingDomainId: BLUE_RD, virtualSubnetId: 5001, destinationPrefix: '10.0.0.0/8', nextHop: '0.0.0.0', metric: 256 }],
    lookupRecords: Array.from({ length: records }, (_, n) => nthRecord(n)),
    providerAddresses: [],
    providerRoutes: [],
    providerPeers: [],
  };
}
