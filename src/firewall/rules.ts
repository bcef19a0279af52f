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
 * - filter NVGW-INPUT: a packet from a tenant may reach only its own routing domain's
 *   gateway CAs. The kernel's rule 0 (`lookup local`) comes before any rule of nvgw's and
 *   before the l3mdev rule, and table local holds the PA and the management address, so
 *   with either backend a tenant's packet to one of those is delivered locally; nvgw never
 *   touches rule 0, which it did not create, and drops such packets here instead.
 *   Policy-routing backend: the domain is the mark set above (`-m mark`), and any tenant
 *   interface (`-i nvgw-t+`) not returned is dropped, which also keeps a tenant from
 *   another domain's gateway CA (all in the shared table local). VRF backend: the IPv4
 *   receive path of an enslaved interface (drivers/net/vrf.c, vrf_ip_rcv) sets the
 *   packet's device to the VRF before the routing decision, so INPUT sees the VRF as
 *   in-interface; the domain is that VRF (`-i nvgwv…`), and any nvgw VRF (`-i nvgwv+`) not
 *   returned is dropped.
 * - NAT, conntrack zones and uplink marks (external networks): src/nat/render.ts, merged
 *   into the same text when the intent carries them.
 */
import type { NatFirewallIntent } from '../nat/intent.js';
import type { Chains } from '../nat/render.js';
import { NAT_CHAINS, renderNat } from '../nat/render.js';
import type { Ruleset } from './ruleset.js';
import { restoreText } from './ruleset.js';

export interface FirewallIntent {
  /** The gateway's IPv4 PAs. */
  gatewayPas: string[];
  /** Tenant interfaces and the mark of their routing domain (policy-routing backend only). */
  domainMarks: { ifname: string; mark: number; routingDomainId: string; vsid: number }[];
  /** The gateway's own CAs per domain mark (policy-routing backend only). */
  domainAddresses: { mark: number; address: string }[];
  /**
   * Each routing domain's VRF device and the gateway's own IPv4 CAs in it (VRF backend
   * only); absent or empty means no VRF rules are rendered.
   */
  vrfDomains?: VrfDomainIntent[];
  /** Zones, NAT and uplinks; absent means none of nvgw's NAT chains are rendered. */
  nat?: NatFirewallIntent;
}

export interface VrfDomainIntent {
  /** The domain's VRF device (DomainIntent.vrfName): "nvgwv" + its table in hex. */
  vrfName: string;
  routingDomainId: string;
  /** The gateway's IPv4 CAs in the domain, on any of its subnets. */
  addresses: string[];
}

export const CHAINS = [
  { table: 'raw', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'mangle', chain: 'NVGW-PREROUTING', from: 'PREROUTING' },
  { table: 'filter', chain: 'NVGW-INPUT', from: 'INPUT' },
] as const;

const comment = (text: string) => `-m comment --comment "nvgw: ${text.replaceAll('"', "'")}"`;

/** Every chain nvgw owns that a built-in chain jumps into, for the intent (NAT chains only when it has NAT). */
export function hookedChains(intent: FirewallIntent): readonly { table: string; chain: string; from: string }[] {
  return intent.nat ? [...CHAINS, ...NAT_CHAINS] : CHAINS;
}

/** The whole of nvgw's rules as iptables-restore input; flushing and refilling only NVGW-* chains. */
export function renderFirewall(intent: FirewallIntent): string {
  return restoreText(buildFirewall(intent));
}

/** The whole of nvgw's rules as data: table -> NVGW-* chain -> its rules, in restore order. */
export function buildFirewall(intent: FirewallIntent): Ruleset {
  const rule = (chains: Chains, chain: string, text: string) => chains.get(chain)!.push(`-A ${chain} ${text}`);
  const raw: Chains = new Map([['NVGW-PREROUTING', []]]);
  for (const pa of [...intent.gatewayPas].sort()) {
    rule(raw, 'NVGW-PREROUTING', `-d ${pa}/32 -p gre ${comment(`NVGRE to PA ${pa} is handled by the data path`)} -j DROP`);
  }
  const mangle: Chains = new Map([['NVGW-PREROUTING', []]]);
  for (const m of [...intent.domainMarks].sort((a, b) => a.ifname.localeCompare(b.ifname))) {
    rule(mangle, 'NVGW-PREROUTING', `-i ${m.ifname} ${comment(`rd ${m.routingDomainId} vsid ${m.vsid}`)} -j MARK --set-xmark 0x${m.mark.toString(16)}/0xffffffff`);
  }
  const filter: Chains = new Map([['NVGW-INPUT', []]]);
  if (intent.domainMarks.length > 0) {
    const sorted = [...intent.domainAddresses].sort((a, b) => a.mark - b.mark || a.address.localeCompare(b.address));
    for (const a of sorted) {
      rule(filter, 'NVGW-INPUT', `-d ${a.address}/32 -m mark --mark 0x${a.mark.toString(16)}/0xffffffff ${comment(`domain ${a.mark} reaches its gateway CA ${a.address}`)} -j RETURN`);
    }
    rule(filter, 'NVGW-INPUT', `-i nvgw-t+ ${comment('tenants reach only their own domain\'s gateway CAs')} -j DROP`);
  }
  const vrfs = [...(intent.vrfDomains ?? [])].sort((a, b) => a.vrfName.localeCompare(b.vrfName));
  if (vrfs.length > 0) {
    for (const d of vrfs) {
      for (const address of [...new Set(d.addresses)].sort()) {
        rule(filter, 'NVGW-INPUT', `-d ${address}/32 -i ${d.vrfName} ${comment(`rd ${d.routingDomainId} (${d.vrfName}) reaches its gateway CA ${address}`)} -j RETURN`);
      }
    }
    rule(filter, 'NVGW-INPUT', `-i nvgwv+ ${comment('tenants reach only their own domain\'s gateway CAs, never the PA or the host')} -j DROP`);
  }
  const ruleset: Ruleset = new Map([['raw', raw], ['mangle', mangle]]);
  if (intent.nat) {
    const nat = renderNat(intent.nat);
    for (const [chains, more] of [[raw, nat.raw], [mangle, nat.mangle], [filter, nat.filter]] as const) {
      for (const [chain, rules] of more) chains.set(chain, rules);
    }
    ruleset.set('nat', nat.nat);
  }
  ruleset.set('filter', filter);
  return ruleset;
}
