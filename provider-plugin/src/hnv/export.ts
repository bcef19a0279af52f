/**
 * Writes a gateway's configuration as an HNV script: New-NetVirtualization* lines that
 * `nvgwctl hnv` runs back into the same /v1/config. What HNV cmdlets cannot say (a
 * routing domain's or subnet's name and customer ID, a subnet no route implies) goes into
 * `#nvgw:` comments, which Windows ignores and nvgwctl reads.
 */
import type { ConfigDocument, CustomerRoute, LookupRecord, ProviderAddress, ProviderRoute, RoutingDomain, VirtualSubnet } from '../client/types.js';
import { RESOURCES } from '../client/types.js';
import { sortItems } from '../client/keys.js';

export interface ExportOptions {
  /** The Windows InterfaceIndex to write for a gateway interface (from the map file), else -InterfaceAlias. */
  interfaceIndex?: (name: string) => string | undefined;
}

/** A PowerShell double-quoted string: backtick escapes `, " and $. */
export function quote(text: string): string {
  return `"${text.replace(/[`"$]/g, (c) => `\`${c}`)}"`;
}

type Arg = readonly [string, string | number | boolean];

function line(cmdlet: string, args: readonly Arg[]): string {
  const parts = args.map(([name, value]) => {
    const rendered = typeof value === 'boolean' ? (value ? '$true' : '$false') : typeof value === 'number' ? String(value) : quote(value);
    return `-${name} ${rendered}`;
  });
  return [cmdlet, ...parts].join(' ');
}

export function exportScript(doc: ConfigDocument, options: ExportOptions = {}): string {
  const out: string[] = [
    '# Hyper-V Network Virtualization policy of an nvgw gateway, written by `nvgwctl hnv --export`.',
    '# Run it with `nvgwctl hnv FILE.ps1`. Routing domains and virtual subnets are implied by the',
    '# customer routes; "#nvgw:" lines keep what HNV cmdlets cannot express (Windows ignores them).',
  ];
  const interfaceArg = (name: string): Arg => {
    const index = options.interfaceIndex?.(name);
    return index !== undefined ? ['InterfaceIndex', Number(index)] : ['InterfaceAlias', name];
  };

  const routes = sortItems('customerRoutes', doc.customerRoutes);
  const routedDomains = new Set(routes.map((r) => r.routingDomainId));
  const routedSubnets = new Map(routes.map((r) => [r.virtualSubnetId, r.routingDomainId]));
  const pragmas: string[] = [];
  for (const domain of sortItems('routingDomains', doc.routingDomains) as RoutingDomain[]) {
    if (domain.name === '' && domain.customerId === '' && routedDomains.has(domain.routingDomainId)) continue;
    const args: Arg[] = [['RoutingDomainID', domain.routingDomainId]];
    if (domain.name !== '') args.push(['Name', domain.name]);
    if (domain.customerId !== '') args.push(['CustomerID', domain.customerId]);
    pragmas.push(`#nvgw: ${line('New-NvgwRoutingDomain', args)}`);
  }
  for (const subnet of sortItems('virtualSubnets', doc.virtualSubnets) as VirtualSubnet[]) {
    if (subnet.name === '' && routedSubnets.get(subnet.virtualSubnetId) === subnet.routingDomainId) continue;
    const args: Arg[] = [
      ['VirtualSubnetID', subnet.virtualSubnetId],
      ['RoutingDomainID', subnet.routingDomainId],
    ];
    if (subnet.name !== '') args.push(['Name', subnet.name]);
    pragmas.push(`#nvgw: ${line('New-NvgwVirtualSubnet', args)}`);
  }
  if (pragmas.length > 0) out.push('', ...pragmas);

  const section = (title: string, lines: string[]) => {
    if (lines.length > 0) out.push('', `# ${title}`, ...lines);
  };
  section(
    'Provider addresses',
    (sortItems('providerAddresses', doc.providerAddresses) as ProviderAddress[]).map((pa) => {
      const args: Arg[] = [interfaceArg(pa.interface), ['ProviderAddress', pa.providerAddress], ['PrefixLength', pa.prefixLength]];
      if (pa.vlanId !== RESOURCES.providerAddresses.fields.vlanId.default) args.push(['VlanID', pa.vlanId]);
      return line('New-NetVirtualizationProviderAddress', args);
    }),
  );
  section(
    'Provider routes',
    (sortItems('providerRoutes', doc.providerRoutes) as ProviderRoute[]).map((r) =>
      line('New-NetVirtualizationProviderRoute', [interfaceArg(r.interface), ['DestinationPrefix', r.destinationPrefix], ['NextHop', r.nextHop], ['Metric', r.metric]]),
    ),
  );
  section(
    'Customer routes',
    (routes as CustomerRoute[]).map((r) =>
      line('New-NetVirtualizationCustomerRoute', [
        ['RoutingDomainID', r.routingDomainId],
        ['VirtualSubnetID', r.virtualSubnetId],
        ['DestinationPrefix', r.destinationPrefix],
        ['NextHop', r.nextHop],
        ['Metric', r.metric],
      ]),
    ),
  );
  section(
    'Lookup records',
    (sortItems('lookupRecords', doc.lookupRecords) as LookupRecord[]).map((r) => {
      const args: Arg[] = [
        ['CustomerAddress', r.customerAddress],
        ['VirtualSubnetID', r.virtualSubnetId],
        ['MACAddress', r.macAddress],
        ['ProviderAddress', r.providerAddress],
        ['Rule', r.rule],
      ];
      if (r.vmName !== '') args.push(['VMName', r.vmName]);
      if (r.customerId !== '') args.push(['CustomerID', r.customerId]);
      if (r.context !== '') args.push(['Context', r.context]);
      if (r.useVmMacAddress) args.push(['UseVmMACAddress', true]);
      return line('New-NetVirtualizationLookupRecord', args);
    }),
  );
  return `${out.join('\n')}\n`;
}
