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
 */

export interface FirewallIntent {
  /** The gateway's IPv4 PAs. */
  gatewayPas: string[];
  /** Tenant interfaces and the mark of their routing domain (policy-routing backend only). */
  domainMarks: { ifname: string; mark: number; routingDomainId: string; vsid: number }[];
}

export const CHAINS = [
  { table: 'raw', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'mangle', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
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
  lines.push('COMMIT', '');
  return lines.join('\n');
}
