/** What the VRF suite's guest needs, and how its runs are reported. */
import type { VmTimings } from './vm.js';

/**
 * Modules the guest loads before the tests (the kernel autoloads others through the host's
 * modprobe, but these are loaded up front so a missing one fails the boot, not a test):
 * veth and bridge for the labs, vrf for the backend under test, gre/ip_tunnel/ip_gre for
 * the kernel's own NVGRE (gretap), tun for tap tenant interfaces, nf_tables and the xt_*
 * matches that iptables-nft uses for nvgw's NVGW-* chains (comment, mark/MARK), and the tc
 * pieces the FlowID-blind NVE hosts use (clsact, u32, pedit). AF_PACKET is built in.
 */
export const VRF_SUITE_MODULES = [
  'veth', 'bridge', 'vrf', 'gre', 'ip_tunnel', 'ip_gre', 'tun',
  'nf_tables', 'nft_compat', 'xt_comment', 'xt_mark',
  'sch_ingress', 'cls_u32', 'act_pedit',
] as const;

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

export function formatTimings(t: VmTimings): string {
  const cpu = t.qemuCpuMs === undefined ? '' : ` (qemu CPU ${seconds(t.qemuCpuMs)})`;
  return `initramfs ${seconds(t.initramfsMs)}, boot ${t.bootMs === undefined ? 'unfinished' : seconds(t.bootMs)}, total ${seconds(t.totalMs)}${cpu}`;
}
