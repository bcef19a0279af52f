/** What the VRF suite's guest needs, and how its runs are reported. */
import type { VmTimings } from './vm.js';

/**
 * Modules the guest loads before the tests (the kernel autoloads others through the host's
 * modprobe, but these are loaded up front so a missing one fails the boot, not a test):
 * veth and bridge for the labs, vrf for the backend under test, gre/ip_tunnel/ip_gre for
 * the kernel's own NVGRE (gretap), tun for tap tenant interfaces, nf_tables and the xt_*
 * matches that iptables-nft uses for nvgw's NVGW-* chains (comment, mark/MARK), and the tc
 * pieces the FlowID-blind NVE hosts use (clsact, u32, pedit). AF_PACKET is built in.
 * For NAT and connection offload (nat-offload.vm.ts): conntrack with its IPv4 defrag, NAT,
 * the nat chain type of nf_tables (iptables-nft's nat table), the xt_* pieces of nvgw's NAT
 * rules (conntrack, connmark/CONNMARK, CT zones, SNAT/DNAT, tcp/udp ports), and ctnetlink
 * (nfnetlink, nf_conntrack_netlink): the data path learns connections from its events, and
 * binding to their groups only asks for the module without waiting for it. In Debian's 6.1
 * every one of these is a module (none built in).
 */
export const VRF_SUITE_MODULES = [
  'veth', 'bridge', 'vrf', 'gre', 'ip_tunnel', 'ip_gre', 'tun',
  'nf_tables', 'nft_compat', 'xt_comment', 'xt_mark',
  'sch_ingress', 'cls_u32', 'act_pedit',
  'nf_defrag_ipv4', 'nf_conntrack', 'nf_nat', 'nft_chain_nat',
  'xt_conntrack', 'xt_connmark', 'xt_CT', 'xt_nat', 'xt_tcpudp',
  'nfnetlink', 'nf_conntrack_netlink',
] as const;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function formatTimings(t: VmTimings): string {
  const cpu = t.qemuCpuMs === undefined ? '' : ` (qemu CPU ${seconds(t.qemuCpuMs)})`;
  return `initramfs ${seconds(t.initramfsMs)}, boot ${t.bootMs === undefined ? 'unfinished' : seconds(t.bootMs)}, total ${seconds(t.totalMs)}${cpu}`;
}
