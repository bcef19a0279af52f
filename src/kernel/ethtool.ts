/**
 * Offloads off on the kernel end of each tenant veth: the data path encapsulates whole
 * frames as the packet socket hands them over, so it needs finished checksums (no
 * CHECKSUM_PARTIAL from tx offload) and MTU-sized frames (no 64 KB TSO/GSO super-frames,
 * which it would have to count and drop). Kept apart from the netlink adapter because
 * rtnetlink has no attribute for offload features; done with the SIOCETHTOOL ioctls
 * `ethtool -K ... tx off tso off gso off` uses, through the native addon, because a
 * process per interface cost ~9 ms each (9 s of a first pass at 1,000 VSIDs).
 */
import { loadNative } from '../datapath/io/native.js';

export type TuneLink = (ifname: string) => Promise<void>;

export const disableOffloads: TuneLink = async (ifname) => {
  loadNative().disableOffloads(ifname);
};
