/**
 * Classic BPF socket filters for packet ports (SO_ATTACH_FILTER, see socket(7) and the
 * kernel's Documentation/networking/filter.rst). The kernel runs the filter before a
 * frame takes ring space, so traffic the data path would only drop never costs a copy.
 *
 * Only traffic that no counter needs to see belongs in a filter: frames the data path
 * must count as a named drop (fragments, malformed GRE, unknown VSIDs) pass the filter
 * and are dropped, counted, in TypeScript.
 */
import { parseIp } from '../../model/ip.js';

/** One classic BPF instruction, as struct sock_filter. */
export interface BpfInstruction {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

// Opcodes from include/uapi/linux/bpf_common.h, combined.
export const BPF_LD_W_ABS = 0x20;
export const BPF_LD_H_ABS = 0x28;
export const BPF_LD_B_ABS = 0x30;
export const BPF_JEQ_K = 0x15;
export const BPF_RET_K = 0x06;

/** Ancillary data loads (include/uapi/linux/filter.h): SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT. */
export const SKF_AD_VLAN_TAG_PRESENT = (0xfffff000 + 48) >>> 0;

/** Accept value: the snap length, as tcpdump uses; larger than any frame a port takes. */
export const BPF_ACCEPT = 0x40000;

/** The most addresses fabricFilter takes: its jumps are 8-bit. */
export const FABRIC_FILTER_MAX_ADDRESSES = 200;

const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_ARP = 0x0806;
const IPPROTO_GRE = 47;
const OFFSET_ETHERTYPE = 12;
const OFFSET_IPV4_PROTOCOL = 14 + 9;
const OFFSET_IPV4_DESTINATION = 14 + 16;

const insn = (code: number, jt: number, jf: number, k: number): BpfInstruction => ({ code, jt, jf, k: k >>> 0 });

/**
 * The fabric port's filter: ARP, and IPv4 GRE (protocol 47) addressed to one of the
 * gateway's provider addresses. Frames with a VLAN tag are refused: the kernel strips
 * the tag before packet sockets see the frame, so without this a frame from another VLAN
 * would look untagged. The IPv4 offsets are fixed (protocol at byte 9, destination at 16)
 * whatever the header length, so IPv4 options do not defeat the filter.
 */
export function fabricFilter(providerAddresses: readonly string[]): BpfInstruction[] {
  if (providerAddresses.length > FABRIC_FILTER_MAX_ADDRESSES) {
    throw new RangeError(`fabricFilter takes at most ${FABRIC_FILTER_MAX_ADDRESSES} addresses`);
  }
  const values = providerAddresses.map((text) => {
    const address = parseIp(text);
    if (address?.family !== 4) throw new TypeError(`fabricFilter: "${text}" is not an IPv4 address`);
    return Number(address.value);
  });
  const n = values.length;
  const drop = 8 + n;
  const accept = 9 + n;
  const to = (from: number, target: number): number => target - (from + 1);
  const program: BpfInstruction[] = [
    insn(BPF_LD_B_ABS, 0, 0, SKF_AD_VLAN_TAG_PRESENT),
    insn(BPF_JEQ_K, to(1, drop), 0, 1),
    insn(BPF_LD_H_ABS, 0, 0, OFFSET_ETHERTYPE),
    insn(BPF_JEQ_K, to(3, accept), 0, ETHERTYPE_ARP),
    insn(BPF_JEQ_K, 0, to(4, drop), ETHERTYPE_IPV4),
    insn(BPF_LD_B_ABS, 0, 0, OFFSET_IPV4_PROTOCOL),
    insn(BPF_JEQ_K, 0, to(6, drop), IPPROTO_GRE),
    insn(BPF_LD_W_ABS, 0, 0, OFFSET_IPV4_DESTINATION),
  ];
  values.forEach((value, i) => program.push(insn(BPF_JEQ_K, to(8 + i, accept), 0, value)));
  program.push(insn(BPF_RET_K, 0, 0, 0), insn(BPF_RET_K, 0, 0, BPF_ACCEPT));
  return program;
}

/** Packs a program as [code, jt, jf, k] quadruples for the addon, checking each field's range. */
export function packBpf(program: readonly BpfInstruction[]): Uint32Array {
  if (program.length < 1 || program.length > 4096) throw new RangeError('a BPF program has 1..4096 instructions');
  const packed = new Uint32Array(program.length * 4);
  program.forEach(({ code, jt, jf, k }, i) => {
    const ok =
      Number.isInteger(code) && code >= 0 && code <= 0xffff &&
      Number.isInteger(jt) && jt >= 0 && jt <= 0xff &&
      Number.isInteger(jf) && jf >= 0 && jf <= 0xff &&
      Number.isInteger(k) && k >= -0x8000_0000 && k <= 0xffff_ffff;
    if (!ok) throw new RangeError(`BPF instruction ${i} is out of range: ${JSON.stringify({ code, jt, jf, k })}`);
    packed.set([code, jt, jf, k >>> 0], i * 4);
  });
  return packed;
}
