/**
 * An NVGRE host made of the Linux kernel's own tunnel devices, in a lab namespace
 * (test/support/netns.ts): per VSID a gretap with `key VSID<<8` towards the gateway's PA,
 * bridged with a veth to each VM of that VSID. It is the second independent NVGRE peer of
 * the system tier, beside Open vSwitch, and needs a kernel with ip_gre (the test VM).
 *
 *   VM ns eth0 ── v<vsid>-<i> ┐
 *                             br<vsid> ── gt<vsid>: gretap local <PA> remote <GW PA> key <VSID<<8>
 *   fabric bridge ── eth0 <PA>
 *
 * A gretap with `key K` matches the whole 32-bit key of what it receives (ip_tunnel_lookup),
 * so it takes only FlowID 0 and answers anything else with ICMP port unreachable, and it
 * sends FlowID 0. That is the strict host (`flowIds: 'zero-only'`), as the kernel is.
 * RFC 7637 section 3.2 makes the FlowID per-flow entropy that a receiver must not match
 * on, which is what Hyper-V hosts do; `flowIds: 'any'` builds such a host from the same
 * devices by clearing the FlowID byte of every NVGRE packet arriving on eth0 before ip_gre
 * sees it (tc ingress, pedit at outer IPv4 offset 27: 20-byte IPv4 header + 7th byte of the
 * GRE header; the GRE header has no checksum and the IPv4 checksum does not cover it).
 *
 * The VM MTU is the gretap's own MTU, the host's fabric MTU minus NVGRE's 42 bytes: 1458 on
 * a 1500-byte fabric; a host on a jumbo fabric (`fabricMtu`, say 9000) sends its VMs' big
 * packets whole, which is how a gateway on a 1500-byte PA network meets inner packets over
 * its tenant MTU. The host's fabric interface has tx checksum and segmentation offloads off: a veth would otherwise hand the
 * gateway's packet socket TCP segments with unfinished checksums or 64 KiB GSO frames (the
 * gretap's output finishes a VM's offloaded checksum in software for the same reason).
 */
import type { Lab } from '../../support/netns.js';

export interface GretapVmSpec {
  name: string;
  vsid: number;
  /** CIDR, e.g. 192.168.1.101/24. */
  address: string;
  mac: string;
  gateway: string;
}

export interface GretapHostSpec {
  name: string;
  pa: string;
  paPrefixLength: number;
  gatewayPa: string;
  fabric: { ns: string; bridge: string };
  flowIds: 'zero-only' | 'any';
  /** MTU of the host's fabric link (both ends of its veth); default 1500. VMs get this minus 42. */
  fabricMtu?: number;
  vms: GretapVmSpec[];
}

export interface GretapHost {
  readonly ns: string;
  readonly pa: string;
  /** The namespace of each VM, by name. */
  readonly vms: Record<string, string>;
  /** The MTU of its VMs and gretaps: the fabric MTU minus 42. */
  readonly vmMtu: number;
  /** Packets the gretap of this VSID took in (its rx counter). */
  rxPackets(vsid: number): Promise<number>;
}

/** NVGRE's overhead on the fabric: outer IPv4 (20), GRE with key (8), inner Ethernet (14). */
export const NVGRE_OVERHEAD = 42;

/**
 * `ip -n <ns> -batch -`: many ip commands for the price of one process. Under TCG every
 * process start costs a large fraction of a second, and a lab makes hundreds of links.
 */
export async function ipBatch(lab: Lab, ns: string | undefined, commands: readonly string[]): Promise<void> {
  await lab.exec(undefined, ['ip', ...(ns === undefined ? [] : ['-n', ns]), '-batch', '-'], { input: `${commands.join('\n')}\n` });
}

export async function createGretapHost(lab: Lab, spec: GretapHostSpec): Promise<GretapHost> {
  // IPv6 stays on: turning it off costs two more process starts per namespace.
  const ns = await lab.namespace(spec.name, { ipv6: true });
  const vms: Record<string, string> = {};
  for (const vm of spec.vms) vms[vm.name] = await lab.namespace(vm.name, { ipv6: true });
  const port = (vm: GretapVmSpec): string => `v${vm.vsid}-${spec.vms.indexOf(vm)}`;
  const fabricMtu = spec.fabricMtu ?? 1500;
  const vmMtu = fabricMtu - NVGRE_OVERHEAD;

  // Both ends of each veth are created straight in their namespaces: nothing in the root one.
  await ipBatch(lab, undefined, [
    `link add eth0 netns ${ns} mtu ${fabricMtu} type veth peer name p-${spec.name} netns ${spec.fabric.ns} mtu ${fabricMtu}`,
    ...spec.vms.map((vm) => `link add eth0 netns ${vms[vm.name]} type veth peer name ${port(vm)} netns ${ns}`),
  ]);
  await ipBatch(lab, spec.fabric.ns, [`link set p-${spec.name} master ${spec.fabric.bridge} up`]);
  const vsids = [...new Set(spec.vms.map((vm) => vm.vsid))];
  await ipBatch(lab, ns, [
    `addr add ${spec.pa}/${spec.paPrefixLength} dev eth0`,
    'link set eth0 up',
    ...vsids.flatMap((vsid) => [
      `link add gt${vsid} mtu ${vmMtu} type gretap local ${spec.pa} remote ${spec.gatewayPa} key ${vsid << 8}`,
      `link add br${vsid} type bridge`,
      `link set gt${vsid} master br${vsid} up`,
      `link set br${vsid} up`,
    ]),
    ...spec.vms.map((vm) => `link set ${port(vm)} mtu ${vmMtu} master br${vm.vsid} up`),
  ]);
  const offloads = 'ethtool -K eth0 tx off tso off gso off';
  const flowIdBlind = 'tc qdisc add dev eth0 clsact && tc filter add dev eth0 ingress protocol ip u32 match ip protocol 47 0xff action pedit munge offset 27 u8 set 0';
  await lab.exec(ns, ['sh', '-ec', spec.flowIds === 'any' ? `${offloads} && ${flowIdBlind}` : offloads]);
  for (const vm of spec.vms) {
    await ipBatch(lab, vms[vm.name], [`link set eth0 address ${vm.mac} mtu ${vmMtu} up`, `addr add ${vm.address} dev eth0`, `route add default via ${vm.gateway}`]);
  }
  return {
    ns,
    pa: spec.pa,
    vms,
    vmMtu,
    async rxPackets(vsid) {
      const { stdout } = await lab.exec(undefined, ['ip', '-n', ns, '-s', '-j', 'link', 'show', `gt${vsid}`]);
      const [link] = JSON.parse(stdout) as { stats64?: { rx?: { packets?: number } } }[];
      return link?.stats64?.rx?.packets ?? 0;
    },
  };
}
