/**
 * An exact-match table keyed by four 32-bit words (a connection's protocol and scope,
 * addresses and ports), for the per-packet lookup of offloaded connections. A JavaScript
 * Map would need one key value per packet (a string or a BigInt: an allocation on the hot
 * path); this one hashes the words where they are and allocates nothing to look up.
 *
 * Open addressing with linear probing in typed arrays, kept at most half full, and
 * backward-shift deletion (no tombstones, so lookups stay short however many connections
 * come and go). Inserts and deletes run at connection rate, lookups at packet rate.
 */

const EMPTY = 0;
const USED = 1;
const MIN_SLOTS = 64;

/** Mixes the four words into a slot index (murmur3's finalizer over a multiply-xor chain). */
function hash(k0: number, k1: number, k2: number, k3: number): number {
  let h = Math.imul(k0 ^ 0x9e3779b9, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ k1, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16) ^ k2, 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13) ^ k3, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export class FlowTable<V> {
  private keys: Uint32Array;
  private state: Uint8Array;
  private values: (V | undefined)[];
  private mask: number;
  private count = 0;

  /** `limit`: the most entries it will hold (set() refuses beyond it). */
  constructor(readonly limit: number) {
    this.mask = MIN_SLOTS - 1;
    this.keys = new Uint32Array(MIN_SLOTS * 4);
    this.state = new Uint8Array(MIN_SLOTS);
    this.values = new Array<V | undefined>(MIN_SLOTS).fill(undefined);
  }

  get size(): number {
    return this.count;
  }

  get(k0: number, k1: number, k2: number, k3: number): V | undefined {
    const keys = this.keys;
    for (let i = hash(k0, k1, k2, k3) & this.mask; this.state[i] === USED; i = (i + 1) & this.mask) {
      const at = i * 4;
      if (keys[at] === k0 >>> 0 && keys[at + 1] === k1 >>> 0 && keys[at + 2] === k2 >>> 0 && keys[at + 3] === k3 >>> 0) return this.values[i];
    }
    return undefined;
  }

  /** Inserts or replaces; false when the table holds `limit` entries and the key is new. */
  set(k0: number, k1: number, k2: number, k3: number, value: V): boolean {
    const found = this.slotOf(k0, k1, k2, k3);
    if (found >= 0) {
      this.values[found] = value;
      return true;
    }
    if (this.count >= this.limit) return false;
    if ((this.count + 1) * 2 > this.mask + 1) this.resize((this.mask + 1) * 2);
    let i = hash(k0, k1, k2, k3) & this.mask;
    while (this.state[i] === USED) i = (i + 1) & this.mask;
    this.put(i, k0, k1, k2, k3, value);
    this.count++;
    return true;
  }

  delete(k0: number, k1: number, k2: number, k3: number): boolean {
    let hole = this.slotOf(k0, k1, k2, k3);
    if (hole < 0) return false;
    this.count--;
    // Backward shift: move later members of the probe run into the hole when their home
    // slot does not lie (cyclically) between the hole and where they sit.
    for (let i = (hole + 1) & this.mask; this.state[i] === USED; i = (i + 1) & this.mask) {
      const at = i * 4;
      const home = hash(this.keys[at]!, this.keys[at + 1]!, this.keys[at + 2]!, this.keys[at + 3]!) & this.mask;
      const stays = hole <= i ? hole < home && home <= i : hole < home || home <= i;
      if (stays) continue;
      this.put(hole, this.keys[at]!, this.keys[at + 1]!, this.keys[at + 2]!, this.keys[at + 3]!, this.values[i]!);
      hole = i;
    }
    this.state[hole] = EMPTY;
    this.values[hole] = undefined;
    return true;
  }

  clear(): void {
    this.state.fill(EMPTY);
    this.values.fill(undefined);
    this.count = 0;
  }

  /** Every value (control-plane use: expiry and resync walks). */
  *entries(): IterableIterator<V> {
    for (let i = 0; i <= this.mask; i++) if (this.state[i] === USED) yield this.values[i]!;
  }

  private slotOf(k0: number, k1: number, k2: number, k3: number): number {
    const keys = this.keys;
    for (let i = hash(k0, k1, k2, k3) & this.mask; this.state[i] === USED; i = (i + 1) & this.mask) {
      const at = i * 4;
      if (keys[at] === k0 >>> 0 && keys[at + 1] === k1 >>> 0 && keys[at + 2] === k2 >>> 0 && keys[at + 3] === k3 >>> 0) return i;
    }
    return -1;
  }

  private put(i: number, k0: number, k1: number, k2: number, k3: number, value: V): void {
    const at = i * 4;
    this.keys[at] = k0;
    this.keys[at + 1] = k1;
    this.keys[at + 2] = k2;
    this.keys[at + 3] = k3;
    this.state[i] = USED;
    this.values[i] = value;
  }

  private resize(slots: number): void {
    const { keys, state, values } = this;
    this.mask = slots - 1;
    this.keys = new Uint32Array(slots * 4);
    this.state = new Uint8Array(slots);
    this.values = new Array<V | undefined>(slots).fill(undefined);
    for (let i = 0; i < state.length; i++) {
      if (state[i] !== USED) continue;
      const at = i * 4;
      let j = hash(keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!) & this.mask;
      while (this.state[j] === USED) j = (j + 1) & this.mask;
      this.put(j, keys[at]!, keys[at + 1]!, keys[at + 2]!, keys[at + 3]!, values[i]!);
    }
  }
}
