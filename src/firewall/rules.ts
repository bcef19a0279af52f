/**
 * nvgw's own netfilter rules, rendered as iptables-restore text by a pure function
 * (kube-router style) and applied in one `iptables-restore --noflush` (see iptables.ts).
 * Every rule lives in an NVGW-* chain and carries a comment tag; nothing outside those
 * chains is written, except the one jump into each of them.
 *
 * - raw NVGW-PREROUTING: NVGRE addressed to a gateway PA is dropped before the IP stack.
 *   The data path has already taken its copy at the packet socket (which sees frames
 *   before netfilter); without this the kernel would answer every tunnel packet with ICMP
 *   protocol-unreachable (no GRE module) or port-unreachable (ip_gre with no tunnel).
 * - mangle NVGW-PREROUTING (policy-routing backend): packets entering from a tenant
 *   interface carry their routing domain's mark, so that replies the gateway itself
 *   generates (net.ipv4.fwmark_reflect, tcp_fwmark_accept) select the domain's table
 *   through `ip rule fwmark`.
 * - filter NVGW-INPUT (policy-routing backend): a packet from a tenant interface may reach
 *   only its own routing domain's gateway CAs. Without VRFs, the kernel's local table is
 *   shared and consulted first (rule 0), so a tenant could otherwise reach the PA or the
 *   management address, or another domain's gateway CA. With VRFs the l3mdev does this.
 */

export interface FirewallIntent {
  /** The gateway's IPv4 PAs. */
  gatewayPas: string[];
  /** Tenant interfaces and the mark of their routing domain (policy-routing backend only). */
  domainMarks: { ifname: string; mark: number; routingDomainId: string; vsid: number }[];
  /** The gateway's own CAs per domain mark (policy-routing backend only). */
  domainAddresses: { mark: number; address: string }[];
}

export const CHAINS = [
  { table: 'raw', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'mangle', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'filter', chain: 'NVGW-INPUT', from: 'INPUT' },
] as const;

const comment = (text: string) => `-m comment --comment "nvgw: ${text.replaceAll('"', "'")}"`;

/** The whole of nvgw's rules as iptables-restore input; flushing and refilling only NVGW-* chains. */
export function renderFirewall(intent: FirewallIntent): string {
  const lines: string[] = ['*raw', ':NVGW-PREROUTING - [0:0]'];
  for (const pa of [...intent.gatewayPas].sort()) {
    lines.push(`-A NVGW-PREROUTING -d ${pa}/32 -p gre ${comment(`NVGRE to PA ${pa} is handled by the data path`)} -j DROP`);
  }
  lines.push('COMMIT', '*mangle', ':NVGW-PREROUTING - [0:0]');
  for (const m of [...intent.domainMarks].sort((a, b) => a.ifname.localeCompare(b.ifname))) {
    lines.push(`-A NVGW-PREROUTING -i ${m.ifname} ${comment(`rd ${m.routingDomainId} vsid ${m.vsid}`)} -j MARK --set-xmark 0x${m.mark.toString(16)}/0xffffffff`);
  }
  lines.push('COMMIT', '*filter', ':NVGW-INPUT - [0:0]');
  if (intent.domainMarks.length > 0) {
    const sorted = [...intent.domainAddresses].sort((a, b) => a.mark - b.mark || a.address.localeCompare(b.address));
    for (const a of sorted) {
      lines.push(`-A NVGW-INPUT -d ${a.address}/32 -m mark --mark 0x${a.mark.toString(16)}/0xffffffff ${comment(`domain ${a.mark} reaches its gateway CA ${a.address}`)} -j RETURN`);
    }
    lines.push(`-A NVGW-INPUT -i nvgw-t+ ${comment('tenants reach only their own domain\'s gateway CAs')} -j DROP`);
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}
