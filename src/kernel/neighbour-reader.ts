/**
 * The kernel's neighbour (ARP) table of one interface, as connection offload needs it: the
 * MAC of an uplink's next hop, which the kernel resolved when it forwarded a connection's
 * first packet. Read with an rtnetlink dump (RTM_GETNEIGH, filtered to the interface by the
 * kernel: net/core/neighbour.c neigh_dump_info honours ndm_ifindex).
 */
import { createRtNetlink } from 'netlink';
import type { RtNetlinkSocket } from 'netlink';

const AF_INET = 2;

/** Whether an entry's MAC can be used: resolved, or resolved once and not known to be wrong. */
function usable(state: { incomplete?: true; failed?: true; noarp?: true } | undefined): boolean {
  return !state?.incomplete && !state?.failed && !state?.noarp;
}

export interface NeighbourReader {
  /** IPv4 address -> MAC (48-bit number) of the entries on `ifindex` that have one. */
  read(ifindex: number): Promise<Map<number, number>>;
  close(): void;
}

export function createNeighbourReader(): NeighbourReader {
  let socket: RtNetlinkSocket | undefined;
  return {
    async read(ifindex) {
      socket ??= createRtNetlink();
      const messages = await socket.getNeighbors({ family: AF_INET, ifindex });
      const table = new Map<number, number>();
      for (const m of messages) {
        if (m.data.ifindex !== ifindex || !usable(m.data.state)) continue;
        const { dst, lladdr } = m.attrs;
        if (!dst || dst.length !== 4 || !lladdr || lladdr.length !== 6) continue;
        table.set(dst.readUInt32BE(0), lladdr.readUIntBE(0, 6));
      }
      return table;
    },
    close() {
      socket?.socket.close();
      socket = undefined;
    },
  };
}
