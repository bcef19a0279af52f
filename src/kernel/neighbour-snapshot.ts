/**
 * The neighbour table as one dump found it, held as numbers until a slice of a pass asks
 * for its own links' entries (pass-scope.ts). At 100,000 entries the table as objects is
 * ~10 MB that a sliced pass would carry through all its slices; as three numbers per entry
 * in one array per link it is ~2.4 MB. Pure.
 */
import { formatIpv4, parseIpv4 } from './ipv4.js';
import type { ObservedNeighbour } from './kernel-port.js';

const NO_MAC = -1;

export class NeighbourSnapshot {
  /** ifindex -> [address, mac (48 bits, or -1), permanent (0/1)] per entry. */
  private readonly byIndex = new Map<number, number[]>();

  add(index: number, entry: Omit<ObservedNeighbour, 'ifname'>): void {
    const address = parseIpv4(entry.address);
    if (address === undefined) return;
    let entries = this.byIndex.get(index);
    if (entries === undefined) this.byIndex.set(index, (entries = []));
    entries.push(address, entry.mac === null ? NO_MAC : Number.parseInt(entry.mac, 16), entry.permanent ? 1 : 0);
  }

  /** The entries of one link, named `ifname`. */
  entriesOf(index: number, ifname: string): ObservedNeighbour[] {
    const entries = this.byIndex.get(index) ?? [];
    const out: ObservedNeighbour[] = [];
    for (let i = 0; i < entries.length; i += 3) {
      const mac = entries[i + 1]!;
      out.push({ ifname, address: formatIpv4(entries[i]!), mac: mac === NO_MAC ? null : mac.toString(16).padStart(12, '0'), permanent: entries[i + 2] === 1 });
    }
    return out;
  }
}
