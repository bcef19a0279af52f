/**
 * Offloads off on the kernel end of each tenant veth, through `ethtool -K` (execa, argv
 * array): the data path encapsulates whole frames as the packet socket hands them over,
 * so it needs finished checksums (no CHECKSUM_PARTIAL from tx offload) and MTU-sized
 * frames (no 64 KB TSO/GSO super-frames, which it would have to count and drop). Kept
 * apart from the netlink adapter because rtnetlink has no attribute for offload features.
 */
import { execa } from 'execa';

export type TuneLink = (ifname: string) => Promise<void>;

export const disableOffloads: TuneLink = async (ifname) => {
  const result = await execa('ethtool', ['-K', ifname, 'tx', 'off', 'tso', 'off', 'gso', 'off'], { reject: false });
  if (result.exitCode !== 0) throw new Error(`ethtool -K ${ifname} failed: ${String(result.stderr).trim()}`);
};
