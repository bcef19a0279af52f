/**
 * The per-packet pipeline between the fabric port (NVGRE on the PA interface) and the
 * tenant ports (one per VSID). It only looks things up in tables the control plane built
 * (src/datapath/tables.ts) and counts every drop under a named reason. It allocates
 * nothing per packet: parse results, batches and templates are reused, and the encap
 * header is a per-(VSID, PA) template that is copied and patched (Open vSwitch's
 * build-once/push-per-packet).
 *
 * Receive (decap): fabric frame -> RFC 7637 checks -> VSID (FlowID masked off) -> the outer
 * source must be a PA that lookup records place in the VSID, and the inner source CA (or,
 * for non-IPv4 frames, the source MAC) must belong to that PA unless the VSID's wildcard
 * record points at it -> the inner frame goes to the VSID's tenant port, where the kernel
 * routes it in the routing domain's table.
 *
 * Routing between VSIDs (HNV's distributed router, in the gateway): an inner IPv4 packet
 * addressed to the gateway's MAC whose destination the domain's routes place on-link in
 * one of its VSIDs, at a CA a lookup record names, is routed here: TTL decremented, MACs
 * rewritten (the gateway's MAC in the destination VSID, the record's MAC), encapsulated to
 * the record's PA with the destination VSID. It is the kernel's decision taken without the
 * kernel's two veth crossings, conntrack and routing lookup (which cost about 7 µs a packet
 * here). Anything else -- TTL 1, IP options, fragments, the gateway's own CAs, a route the
 * kernel resolves (next-hop CA, external network), a CA without a record -- goes to the
 * kernel as before, which answers with its ICMP errors. datapath.routeBetweenVsids=false
 * sends everything to the kernel.
 *
 * Transmit (encap): frame the kernel sent out of a tenant port -> the destination MAC names
 * the lookup record (the kernel resolved the next-hop CA to it through the permanent
 * neighbour entries), else the wildcard record -> outer Ethernet/IPv4/GRE from the template
 * with key VSID<<8 | FlowID, FlowID hashed from the inner 5-tuple -> fabric port.
 *
 * Broadcast and multicast from the gateway into a VSID: ARP requests are answered from the
 * lookup records on the spot (the records are authoritative, so flooding could only find
 * what they already say) or suppressed when no record names the target; every other
 * broadcast/multicast frame is replicated by unicast to each distinct PA of the VSID.
 */
import { createArpPacket, formatArp, parseArp, ARP_LENGTH, ARP_REPLY, ARP_REQUEST } from '../packet/arp.js';
import type { DropReason } from '../packet/drop-reasons.js';
import { buildEncapTemplate, ENCAP_OVERHEAD, pushEncap } from '../packet/encap-template.js';
import type { EncapTemplate } from '../packet/encap-template.js';
import { BROADCAST_MAC, ETHERNET_HEADER_LENGTH, ETHERTYPE_ARP, ETHERTYPE_IPV4, isMulticastMac, readMac, writeMac } from '../packet/ethernet.js';
import { flowIdForFrame } from '../packet/flow-hash.js';
import { createIpv4Header, formatIpv4, internetChecksum, ipv4ChecksumValid, IP_PROTOCOL_ICMP, IPV4_FLAG_DF, IPV4_FLAG_MF, IPV4_MIN_HEADER_LENGTH, parseIpv4, setIpv4TotalLength } from '../packet/ipv4.js';
import { formatIcmpFragmentationNeeded } from '../packet/icmp.js';
import { applyNat } from '../packet/nat-rewrite.js';
import { createNvgreFrame, decodeNvgreFrame } from '../packet/nvgre.js';
import type { CounterWriter } from './counters.js';
import type { FramePort, RxBatch, TxBatch } from './io/frame-port.js';
import { createRxBatch, createTxBatch } from './io/frame-port.js';
import type { DatapathTables, DomainRoute, RecordEntry, VsidTable } from './tables.js';
import { IPPROTO_TCP, IPPROTO_UDP, isUplinkRoute, OffloadFlows } from './offload.js';
import type { OffloadDomain, OffloadView } from './offload.js';

const BATCH = 64;
/** TCP flags the kernel's connection tracking must see: FIN, SYN, RST. */
const TCP_SYN_FIN_RST = 0x07;
const ROUND_BATCHES = 4;
/** At most one ARP request per provider next hop per this many milliseconds. */
const ARP_RETRY_MS = 1000;

interface CompiledVsid {
  table: VsidTable;
  byCa: Map<number, RecordEntry>;
  byMac: Map<number, RecordEntry>;
  /** PAs that lookup records place in this VSID (anti-spoofing of the outer source). */
  pas: Set<number>;
  /** Distinct remote PAs, for head-end replication of broadcast/multicast. */
  floodPas: number[];
  templates: Map<number, EncapTemplate>;
}

/** A routing domain's routes indexed for longest-prefix match: lengths longest first, then network -> the lowest-metric route. */
interface CompiledDomain {
  lengths: number[];
  byLength: Map<number, Map<number, DomainRoute>>;
}

function compileDomain(routes: readonly DomainRoute[]): CompiledDomain {
  const byLength = new Map<number, Map<number, DomainRoute>>();
  for (const route of routes) {
    let networks = byLength.get(route.length);
    if (!networks) byLength.set(route.length, (networks = new Map()));
    const existing = networks.get(route.network);
    if (!existing || route.metric < existing.metric) networks.set(route.network, route);
  }
  return { lengths: [...byLength.keys()].sort((a, b) => b - a), byLength };
}

const maskOf = (length: number): number => (length === 0 ? 0 : (0xffffffff << (32 - length)) >>> 0);

/** The longest-prefix match in a domain's routes (lowest metric among equals). */
function lookupRoute(domain: CompiledDomain, dst: number): DomainRoute | undefined {
  for (const length of domain.lengths) {
    const route = domain.byLength.get(length)!.get((dst & maskOf(length)) >>> 0);
    if (route) return route;
  }
  return undefined;
}

const readIpv4 = (buf: Uint8Array, at: number): number => ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;

/** Offloaded connections the data path carries at most (each direction is a table entry). */
export const OFFLOAD_LIMIT = 262_144;

const sameMembers = (set: ReadonlySet<number>, list: readonly number[]): boolean => set.size === list.length && list.every((n) => set.has(n));

const ipText = (n: number): string => `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;

function compileVsid(table: VsidTable): CompiledVsid {
  const byCa = new Map<number, RecordEntry>();
  const byMac = new Map<number, RecordEntry>();
  const pas = new Set<number>();
  for (const record of table.records) {
    if (record.ca >= 0) byCa.set(record.ca, record);
    byMac.set(record.mac, record);
    pas.add(record.pa);
  }
  if (table.wildcardPa >= 0) pas.add(table.wildcardPa);
  return { table, byCa, byMac, pas, floodPas: [...pas], templates: new Map() };
}

/**
 * Moves the payload bytes of a batch: lengths[i] bytes from src[srcOffsets[i]] to
 * dst[dstOffsets[i]]. The worker passes the addon's memcpy; tests may use copyFramesJs.
 */
export type FrameCopier = (src: Uint8Array, srcOffsets: Uint32Array, dst: Uint8Array, dstOffsets: Uint32Array, lengths: Uint32Array, count: number) => number;

/** The same in TypeScript (allocation-free byte loop), for tests and for a data path without the addon. */
export const copyFramesJs: FrameCopier = (src, srcOffsets, dst, dstOffsets, lengths, count) => {
  let skipped = 0;
  for (let i = 0; i < count; i++) {
    const from = srcOffsets[i]!;
    const to = dstOffsets[i]!;
    const n = lengths[i]!;
    if (from + n > src.length || to + n > dst.length) {
      skipped++;
      continue;
    }
    for (let k = 0; k < n; k++) dst[to + k] = src[from + k]!;
  }
  return skipped;
};

/** Copies queued per egress, run once per received batch (before its frames are released). */
const COPY_QUEUE = BATCH * 8;

/** A port with the transmit batch being filled for it in the current round. */
class Egress {
  readonly tx: TxBatch;
  used = 0;
  private copySource: Uint8Array | undefined;
  private readonly srcOffsets = new Uint32Array(COPY_QUEUE);
  private readonly dstOffsets = new Uint32Array(COPY_QUEUE);
  private readonly lengths = new Uint32Array(COPY_QUEUE);
  private copies = 0;
  private listed = false;

  constructor(
    readonly port: FramePort,
    private readonly copier: FrameCopier,
    /** Told once per round when something is first written here (so a round visits only busy ports). */
    private readonly onFirstUse?: (egress: Egress) => void,
  ) {
    this.tx = createTxBatch(port, BATCH);
  }

  /** Offset of a free slot, or -1 when the ring is full. */
  slot(): number {
    if (!this.listed && this.onFirstUse) {
      this.listed = true;
      this.onFirstUse(this);
    }
    if (this.used === this.tx.count) {
      if (this.used > 0) this.flush();
      if (this.port.reserveTx(this.tx, BATCH) === 0) return -1;
    }
    return this.tx.offsets[this.used]!;
  }

  /** Queues a payload copy into the slot being filled; it runs before the slot is sent. */
  queueCopy(src: Uint8Array, from: number, to: number, length: number): void {
    if (this.copySource !== src || this.copies === COPY_QUEUE) this.runCopies();
    this.copySource = src;
    this.srcOffsets[this.copies] = from;
    this.dstOffsets[this.copies] = to;
    this.lengths[this.copies++] = length;
  }

  runCopies(): void {
    if (this.copies > 0) this.copier(this.copySource!, this.srcOffsets, this.tx.buffer, this.dstOffsets, this.lengths, this.copies);
    this.copies = 0;
    this.copySource = undefined;
  }

  /** `target`: the interface, for a port on many (FramePort.anyInterface); else ignored. */
  commit(length: number, target = 0): void {
    if (this.tx.targets) this.tx.targets[this.used] = target;
    this.tx.lengths[this.used++] = length;
  }

  flush(): void {
    this.runCopies();
    if (this.tx.count === 0) return;
    this.port.sendTx(this.tx, this.used);
    this.tx.count = 0;
    this.used = 0;
  }

  /** Sends what the round queued and leaves the busy list. */
  settle(): void {
    this.flush();
    this.listed = false;
  }
}

/** Receives each decision of a traced packet (nvgw trace); absent in normal operation. */
export interface Tracer {
  step(step: string, detail: string): void;
}

/** An external network's interface, attached for connection offload. */
interface Uplink {
  ifindex: number;
  port: FramePort;
  rx: RxBatch;
  egress: Egress;
  mac: number;
}

interface Tenant {
  vsid: number;
  port: FramePort;
  /** Own port only: its receive batch (a shared port's frames arrive in the hub's). */
  rx: RxBatch | undefined;
  egress: Egress;
  /** Shared port: this tenant's interface, named per frame on transmit; 0 for an own port. */
  ifindex: number;
}

export class Dataplane {
  private vsids = new Map<number, CompiledVsid>();
  private domains = new Map<string, CompiledDomain>();
  private routeBetweenVsids = true;
  private gatewayPas = new Set<number>();
  private legacyKeyPas = new Set<number>();
  private noFlowIdPas = new Set<number>();
  private nextHops = new Map<number, number>();
  private ttl = 64;
  private tenantMtu = 1458;
  /** Scratch for frames the gateway originates towards the fabric (ICMP errors). */
  private readonly scratch = new Uint8Array(256);
  private readonly innerIp = createIpv4Header();
  private generation = -1;
  private readonly tenants = new Map<number, Tenant>();
  /**
   * What ports() listed after the fabric, in order (index + 1 = position in that list):
   * a tenant with its own port, or null for the shared tenant port.
   */
  private polled: (Tenant | Uplink | null)[] = [];
  /** The one port for all tenants on veth (openSharedPacketPort), if there is one. */
  private hub: { port: FramePort; rx: RxBatch; egress: Egress; byIfindex: Map<number, Tenant> } | undefined;
  /** Tenant egresses written to in the current round. */
  private readonly busy: Egress[] = [];
  private readonly markBusy = (egress: Egress) => void this.busy.push(egress);
  private fabricRx: RxBatch;
  private fabricTx: Egress;
  /** Provider next hop -> MAC, learned by our own ARP on the fabric. */
  private readonly neighbours = new Map<number, number>();
  private readonly arpSentAt = new Map<number, number>();
  private readonly frame = createNvgreFrame();
  private readonly arp = createArpPacket();
  private ipId = 0;
  private tracer: Tracer | undefined;
  /** Offloaded connections (offload.ts); the offload manager fills them. */
  readonly offload = new OffloadFlows(OFFLOAD_LIMIT);
  /** Mark of each routing domain with an external connection: the outbound offload key. */
  private domainMarks = new Map<string, number>();
  private readonly uplinks = new Map<number, Uplink>();

  constructor(
    private fabric: FramePort,
    private readonly counters: CounterWriter,
    private readonly now: () => number = Date.now,
    private readonly copier: FrameCopier = copyFramesJs,
  ) {
    this.fabricRx = createRxBatch(fabric, BATCH);
    this.fabricTx = new Egress(fabric, copier);
  }

  get tablesGeneration(): number {
    return this.generation;
  }

  /** Applies a full or incremental table update (control-plane time: builds Maps, never per packet). */
  setTables(tables: DatapathTables): void {
    if (tables.full) this.vsids = new Map();
    for (const vsid of tables.removedVsids) this.vsids.delete(vsid);
    for (const table of tables.vsids) this.vsids.set(table.vsid, compileVsid(table));
    this.gatewayPas = new Set(tables.gatewayPas);
    const formatsChanged = !sameMembers(this.legacyKeyPas, tables.legacyKeyPas) || !sameMembers(this.noFlowIdPas, tables.noFlowIdPas);
    this.legacyKeyPas = new Set(tables.legacyKeyPas);
    this.noFlowIdPas = new Set(tables.noFlowIdPas);
    if (tables.full) this.nextHops = new Map();
    let nextHopsChanged = false;
    for (const [pa, nextHop] of tables.nextHops) {
      if (this.nextHops.get(pa) !== nextHop) nextHopsChanged = true;
      this.nextHops.set(pa, nextHop);
    }
    // A PA behind a different next hop needs a new template in every VSID that uses it.
    if (nextHopsChanged || formatsChanged) for (const entry of this.vsids.values()) entry.templates.clear();
    this.ttl = tables.ttl;
    this.tenantMtu = tables.tenantMtu;
    this.routeBetweenVsids = tables.routeBetweenVsids;
    if (tables.domains) this.domains = new Map(tables.domains.map((d) => [d.routingDomainId, compileDomain(d.routes)]));
    this.generation = tables.generation;
    // Resolve every provider next hop now, so a VM that moved to a new host is reachable
    // from the first packet instead of after an ARP round trip on the hot path.
    for (const nextHop of this.nextHops.values()) if (nextHop >= 0 && !this.neighbours.has(nextHop)) this.requestNextHop(nextHop);
    this.fabricTx.flush();
  }

  /** Reports every decision to `tracer` (for one traced packet; never set in the worker). */
  setTracer(tracer: Tracer | undefined): void {
    this.tracer = tracer;
  }

  /** Treats every provider next hop as resolved to `mac` (trace only: it has no ARP cache). */
  assumeNeighbours(mac: number): void {
    for (const nextHop of this.nextHops.values()) if (nextHop >= 0) this.neighbours.set(nextHop, mac);
    for (const entry of this.vsids.values()) entry.templates.clear();
  }

  /** Swaps the fabric port (its kernel filter names the PAs, so a PA change reopens it). */
  replaceFabric(port: FramePort): FramePort {
    const old = this.fabric;
    this.fabric = port;
    this.fabricRx = createRxBatch(port, BATCH);
    this.fabricTx = new Egress(port, this.copier);
    for (const entry of this.vsids.values()) entry.templates.clear();
    return old;
  }

  /**
   * Sets the port that serves every tenant attached with attachTenant(vsid, port, ifindex)
   * (one receive ring and one transmit socket for thousands of VSIDs). Tenants of a
   * previous shared port must have been detached.
   */
  setSharedTenantPort(port: FramePort | undefined): void {
    this.hub = port ? { port, rx: createRxBatch(port, BATCH), egress: new Egress(port, this.copier, this.markBusy), byIfindex: new Map() } : undefined;
  }

  /** A tenant on its own port, or (ifindex given) on the shared tenant port's interface `ifindex`. */
  attachTenant(vsid: number, port: FramePort, ifindex = 0): void {
    this.detachTenant(vsid);
    if (ifindex > 0) {
      const hub = this.hub;
      if (!hub || hub.port !== port) throw new Error(`VSID ${vsid}: ${port.name} is not the shared tenant port`);
      const tenant: Tenant = { vsid, port, rx: undefined, egress: hub.egress, ifindex };
      hub.byIfindex.set(ifindex, tenant);
      this.tenants.set(vsid, tenant);
      return;
    }
    this.tenants.set(vsid, { vsid, port, rx: createRxBatch(port, BATCH), egress: new Egress(port, this.copier, this.markBusy), ifindex: 0 });
  }

  detachTenant(vsid: number): FramePort | undefined {
    const tenant = this.tenants.get(vsid);
    this.tenants.delete(vsid);
    if (tenant && tenant.ifindex > 0 && this.hub?.byIfindex.get(tenant.ifindex) === tenant) this.hub.byIfindex.delete(tenant.ifindex);
    return tenant?.port;
  }

  /** The routing domains with an external connection (their marks key outbound offloaded packets). */
  setOffloadDomains(domains: readonly OffloadDomain[]): void {
    this.domainMarks = new Map(domains.map((d) => [d.routingDomainId, d.mark]));
  }

  /**
   * An uplink for connection offload: its receive ring holds only the frames of offloaded
   * connections (the kernel filter a FlowClaim puts on it); its transmit ring carries
   * offloaded packets out.
   */
  attachUplink(port: FramePort): void {
    this.detachUplink(port.ifindex);
    this.uplinks.set(port.ifindex, { ifindex: port.ifindex, port, rx: createRxBatch(port, BATCH), egress: new Egress(port, this.copier, this.markBusy), mac: readMac(port.mac, 0) });
  }

  detachUplink(ifindex: number): FramePort | undefined {
    const uplink = this.uplinks.get(ifindex);
    this.uplinks.delete(ifindex);
    return uplink?.port;
  }

  /** What planOffload asks of the tables: where a domain's CA lives, and which addresses are external. */
  readonly offloadView: OffloadView = {
    vsidOfCa: (routingDomainId, ca) => {
      const domain = this.domains.get(routingDomainId);
      const route = domain && lookupRoute(domain, ca);
      if (!route || route.vsid < 0) return -1;
      const target = this.vsids.get(route.vsid);
      const record = target?.byCa.get(ca);
      return target && target.table.routingDomainId === routingDomainId && record && !record.nat ? route.vsid : -1;
    },
    isExternal: (routingDomainId, address) => {
      const domain = this.domains.get(routingDomainId);
      const route = domain && lookupRoute(domain, address);
      return route !== undefined && isUplinkRoute(route);
    },
  };

  /** Every port, fabric first, for waiting on readiness; poll()'s ready indices refer to this list. */
  ports(): FramePort[] {
    const own = [...this.tenants.values()].filter((t) => t.rx !== undefined);
    const uplinks = [...this.uplinks.values()];
    this.polled = [...(this.hub ? [null] : []), ...uplinks, ...own];
    return [this.fabric, ...(this.hub ? [this.hub.port] : []), ...uplinks.map((u) => u.port), ...own.map((t) => t.port)];
  }

  /**
   * One round: drains what is ready without waiting, up to ROUND_BATCHES batches per port
   * so one busy port cannot starve the others; returns frames handled. With `ready` (the
   * indices into the last ports() list that poll(2) reported, `readyCount` of them) only
   * the fabric and those tenant ports are looked at, so a round costs the ports with
   * traffic, not every VSID the gateway serves. Without it every port is looked at.
   */
  poll(ready?: Int32Array, readyCount = -1): number {
    let handled = 0;
    for (let b = 0; b < ROUND_BATCHES; b++) {
      const n = this.fabric.receive(this.fabricRx);
      if (n === 0) break;
      for (let i = 0; i < n; i++) this.fromFabric(this.fabricRx.buffer, this.fabricRx.offsets[i]!, this.fabricRx.lengths[i]!);
      // The payloads must move before the ring gets its frames back.
      for (const egress of this.busy) egress.runCopies();
      this.fabric.releaseRx();
      handled += n;
      if (n < BATCH) break;
    }
    if (ready && readyCount >= 0 && readyCount <= ready.length) {
      for (let r = 0; r < readyCount; r++) {
        const index = ready[r]! - 1;
        const polled = this.polled[index];
        if (polled === null) handled += this.hub ? this.drainShared() : 0;
        else if (polled && 'vsid' in polled) handled += this.tenants.get(polled.vsid) === polled ? this.drainTenant(polled) : 0;
        else if (polled && this.uplinks.get(polled.ifindex) === polled) handled += this.drainUplink(polled);
      }
    } else {
      if (this.hub) handled += this.drainShared();
      for (const uplink of this.uplinks.values()) handled += this.drainUplink(uplink);
      for (const tenant of this.tenants.values()) if (tenant.rx) handled += this.drainTenant(tenant);
    }
    this.fabricTx.flush();
    for (const egress of this.busy) egress.settle();
    this.busy.length = 0;
    return handled;
  }

  private drainTenant(tenant: Tenant): number {
    const rx = tenant.rx!;
    let handled = 0;
    for (let b = 0; b < ROUND_BATCHES; b++) {
      const n = tenant.port.receive(rx);
      if (n === 0) break;
      for (let i = 0; i < n; i++) this.fromTenant(tenant, rx.buffer, rx.offsets[i]!, rx.lengths[i]!);
      this.fabricTx.runCopies();
      tenant.port.releaseRx();
      handled += n;
      if (n < BATCH) break;
    }
    return handled;
  }

  /** The shared tenant port: each frame names its interface, and so its VSID. */
  private drainShared(): number {
    const hub = this.hub!;
    const rx = hub.rx;
    const sources = rx.sources!;
    let handled = 0;
    for (let b = 0; b < ROUND_BATCHES; b++) {
      const n = hub.port.receive(rx);
      if (n === 0) break;
      for (let i = 0; i < n; i++) {
        const tenant = hub.byIfindex.get(sources[i]!);
        if (tenant) this.fromTenant(tenant, rx.buffer, rx.offsets[i]!, rx.lengths[i]!);
        else this.counters.drop('tenant-port-detached', rx.lengths[i]!);
      }
      this.fabricTx.runCopies();
      for (const egress of this.busy) egress.runCopies();
      hub.port.releaseRx();
      handled += n;
      if (n < BATCH) break;
    }
    return handled;
  }

  private fromFabric(buf: Uint8Array, off: number, len: number): void {
    const end = off + len;
    if (len >= ETHERNET_HEADER_LENGTH && buf[off + 12] === 0x08 && buf[off + 13] === 0x06) {
      this.learnFabricArp(buf, off + ETHERNET_HEADER_LENGTH, end);
      return;
    }
    const f = this.frame;
    const verdict = decodeNvgreFrame(buf, off, f, end);
    if (verdict !== 'ok') return this.counters.drop(verdict, len);
    if (!ipv4ChecksumValid(buf, f.ipOffset, f.ipHeaderLength)) return this.counters.drop('ipv4-checksum-invalid', len);
    if (!this.gatewayPas.has(f.outerDstIp)) return this.counters.drop('not-for-gateway-pa', len);
    // Match on the VSID alone: the FlowID is entropy (RFC 7637 section 3.2), never a selector.
    const vsid = this.legacyKeyPas.has(f.outerSrcIp) ? f.key & 0xffffff : f.vsid;
    if (this.tracer) {
      this.tracer.step('decode', `RFC 7637 NVGRE from PA ${ipText(f.outerSrcIp)} to ${ipText(f.outerDstIp)}, key 0x${f.key.toString(16).padStart(8, '0')}: VSID ${vsid}, FlowID ${this.legacyKeyPas.has(f.outerSrcIp) ? f.key >>> 24 : f.flowId}${this.legacyKeyPas.has(f.outerSrcIp) ? ' (pre-KB2779768 key format)' : ''}`);
    }
    const entry = this.vsids.get(vsid);
    if (!entry) return this.counters.drop('unknown-vsid', len);
    const slot = entry.table.slot;
    if (!entry.pas.has(f.outerSrcIp)) return this.counters.drop('spoofed-outer-pa', len, slot);
    this.tracer?.step('outer source', `PA ${ipText(f.outerSrcIp)} holds lookup records of VSID ${vsid} (routing domain ${entry.table.routingDomainId})`);

    const inner = f.innerOffset;
    const innerLength = f.innerLength;
    const wildcard = entry.table.wildcardPa === f.outerSrcIp;
    let source: RecordEntry | undefined;
    if (f.innerEthertype === ETHERTYPE_IPV4 || f.innerEthertype === ETHERTYPE_ARP) {
      const at = inner + ETHERNET_HEADER_LENGTH + (f.innerEthertype === ETHERTYPE_IPV4 ? 12 : 14);
      if (at + 4 > end) return this.counters.drop('truncated-inner', len, slot);
      source = entry.byCa.get(((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0);
      if ((source === undefined || source.pa !== f.outerSrcIp) && !wildcard) return this.counters.drop('spoofed-inner-ca', len, slot);
    } else {
      source = entry.byMac.get(f.innerSrcMac);
      if ((source === undefined || source.pa !== f.outerSrcIp) && !wildcard) return this.counters.drop('spoofed-inner-mac', len, slot);
    }
    if (source?.nat) return this.counters.drop('nat-rule-not-forwarded', len, slot);
    if (this.tracer) {
      this.tracer.step(
        'inner source',
        source && source.pa === f.outerSrcIp
          ? `source ${source.ca >= 0 ? `CA ${ipText(source.ca)}` : `MAC ${source.mac.toString(16).padStart(12, '0')}`} lives behind PA ${ipText(f.outerSrcIp)}`
          : `accepted from the PA of VSID ${vsid}'s wildcard record`,
      );
    }

    const tenant = this.tenants.get(vsid);
    if (!tenant) return this.counters.drop('unknown-vsid', len, slot);
    if (innerLength > this.tenantMtu + ETHERNET_HEADER_LENGTH) return this.oversize(entry, tenant, buf, inner, innerLength, f.outerSrcIp, len);
    if (this.offload.size > 0 && this.offloadOutbound(entry, buf, inner, innerLength)) return;
    if (this.routeBetweenVsids && this.routeToVsid(entry, buf, inner, innerLength)) return;
    const at = tenant.egress.slot();
    if (at < 0) return this.counters.drop('tx-ring-full', len, slot);
    tenant.egress.queueCopy(buf, inner, at, innerLength);
    tenant.egress.commit(innerLength, tenant.ifindex);
    this.counters.decap(slot, innerLength);
    this.tracer?.step('deliver', `${innerLength}-byte inner frame to ${tenant.port.name}, the tenant interface of VSID ${vsid}`);
  }

  /**
   * Routes an inner IPv4 packet to another VSID of the domain when the domain's table puts
   * its destination on-link there at a CA with a lookup record; false leaves it to the
   * kernel. The frame is rewritten in the receive ring (it is ours until the batch is
   * released) and encapsulated from there, so nothing is copied twice.
   */
  private routeToVsid(entry: CompiledVsid, buf: Uint8Array, inner: number, innerLength: number): boolean {
    const l3 = inner + ETHERNET_HEADER_LENGTH;
    if (innerLength < ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH || buf[inner + 12] !== 0x08 || buf[inner + 13] !== 0x00) return false;
    if (readMac(buf, inner) !== entry.table.gatewayMac) return false;
    // IPv4 without options, not a fragment, TTL left to decrement, length consistent: else the kernel.
    if (buf[l3] !== 0x45 || (buf[l3 + 6]! & 0x3f) !== 0 || buf[l3 + 7] !== 0 || buf[l3 + 8]! <= 1) return false;
    if (((buf[l3 + 2]! << 8) | buf[l3 + 3]!) > innerLength - ETHERNET_HEADER_LENGTH || !ipv4ChecksumValid(buf, l3, IPV4_MIN_HEADER_LENGTH)) return false;
    const dst = ((buf[l3 + 16]! << 24) | (buf[l3 + 17]! << 16) | (buf[l3 + 18]! << 8) | buf[l3 + 19]!) >>> 0;
    if (dst >= 0xe0000000) return false;
    const domain = this.domains.get(entry.table.routingDomainId);
    if (!domain) return false;
    const route = lookupRoute(domain, dst);
    if (!route || route.vsid < 0) return false;
    const target = this.vsids.get(route.vsid);
    const record = target?.byCa.get(dst);
    if (!target || !record || record.nat) return false;
    writeMac(record.mac, buf, inner);
    writeMac(target.table.gatewayMac, buf, inner + 6);
    buf[l3 + 8]! -= 1;
    buf[l3 + 10] = 0;
    buf[l3 + 11] = 0;
    const checksum = internetChecksum(buf, l3, IPV4_MIN_HEADER_LENGTH);
    buf[l3 + 10] = checksum >>> 8;
    buf[l3 + 11] = checksum & 0xff;
    this.tracer?.step(
      'route',
      `routing domain ${entry.table.routingDomainId}: ${ipText(dst)} is on-link in VSID ${route.vsid} (route ${ipText(route.network)}/${route.length}, metric ${route.metric}), CA of MAC ${record.mac.toString(16).padStart(12, '0')}: routed in the data path, TTL ${buf[l3 + 8]}`,
    );
    this.counters.decap(entry.table.slot, innerLength);
    if (this.encapTo(target, record.pa, buf, inner, innerLength) === 'ok') this.counters.event('routed-between-vsids', innerLength);
    return true;
  }

  /**
   * A tenant's packet of an offloaded connection: translated here and sent out of the
   * uplink, instead of crossing the kernel's routing, conntrack and NAT. Only what the
   * kernel would forward unchanged but for the translation is taken: IPv4 without options,
   * not a fragment, TTL left, TCP without SYN/FIN/RST (the kernel's state machine must see
   * those), a frame the uplink carries whole; everything else goes to the kernel, which
   * knows the connection too.
   */
  private offloadOutbound(entry: CompiledVsid, buf: Uint8Array, inner: number, innerLength: number): boolean {
    const l3 = inner + ETHERNET_HEADER_LENGTH;
    if (innerLength < ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + 8 || buf[inner + 12] !== 0x08 || buf[inner + 13] !== 0x00) return false;
    if (buf[l3] !== 0x45 || (buf[l3 + 6]! & 0x3f) !== 0 || buf[l3 + 7] !== 0 || buf[l3 + 8]! <= 1) return false;
    const protocol = buf[l3 + 9]!;
    if (protocol === IPPROTO_TCP) {
      if (innerLength < ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + 20 || (buf[l3 + 33]! & TCP_SYN_FIN_RST) !== 0) return false;
    } else if (protocol !== IPPROTO_UDP) {
      return false;
    }
    if (((buf[l3 + 2]! << 8) | buf[l3 + 3]!) > innerLength - ETHERNET_HEADER_LENGTH) return false;
    const mark = this.domainMarks.get(entry.table.routingDomainId);
    if (mark === undefined || readMac(buf, inner) !== entry.table.gatewayMac) return false;
    const flow = this.offload.outbound(protocol, mark, readIpv4(buf, l3 + 12), readIpv4(buf, l3 + 16), readIpv4(buf, l3 + 20));
    if (!flow) return false;
    const uplink = this.uplinks.get(flow.uplinkIfindex);
    // No next-hop MAC yet (the kernel resolves it as it forwards these), or too large to carry whole: the kernel's.
    if (!uplink || flow.nextHopMac < 0 || innerLength > uplink.port.frameCapacity) return false;
    const slot = entry.table.slot;
    const at = uplink.egress.slot();
    if (at < 0) {
      this.counters.drop('tx-ring-full', innerLength, slot);
      return true;
    }
    applyNat(buf, l3, flow.plan.outbound.rewrite, flow.outboundDeltas);
    writeMac(flow.nextHopMac, buf, inner);
    writeMac(uplink.mac, buf, inner + 6);
    uplink.egress.queueCopy(buf, inner, at, innerLength);
    uplink.egress.commit(innerLength);
    flow.packets++;
    this.counters.decap(slot, innerLength);
    this.counters.event('offloaded-outbound', innerLength);
    this.tracer?.step('offload', `connection of routing domain ${entry.table.routingDomainId} offloaded from the kernel: translated to ${ipText(flow.plan.outbound.rewrite.src)}:${flow.plan.outbound.rewrite.srcPort} -> ${ipText(flow.plan.outbound.rewrite.dst)}:${flow.plan.outbound.rewrite.dstPort}, out of ${uplink.port.name}`);
    return true;
  }

  private drainUplink(uplink: Uplink): number {
    const rx = uplink.rx;
    let handled = 0;
    for (let b = 0; b < ROUND_BATCHES; b++) {
      const n = uplink.port.receive(rx);
      if (n === 0) break;
      for (let i = 0; i < n; i++) this.fromUplink(uplink, rx.buffer, rx.offsets[i]!, rx.lengths[i]!);
      this.fabricTx.runCopies();
      uplink.port.releaseRx();
      handled += n;
      if (n < BATCH) break;
    }
    return handled;
  }

  /**
   * A frame the uplink's claim took from the kernel (FlowClaim: only offloaded connections'
   * packets reach this ring, and the kernel drops its own copy): translated back to the
   * tenant's CA and encapsulated to the CA's current PA, so a migrated VM is followed.
   */
  private fromUplink(uplink: Uplink, buf: Uint8Array, off: number, len: number): void {
    const l3 = off + ETHERNET_HEADER_LENGTH;
    // The claim filter admits only frames that pass these checks; one that fails them, or
    // names no offloaded connection, was claimed in the instant a connection was removed.
    if (len < ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + 8 || buf[off + 12] !== 0x08 || buf[off + 13] !== 0x00 || buf[l3] !== 0x45) return this.counters.drop('offload-unmatched', len);
    const protocol = buf[l3 + 9]!;
    const flow = this.offload.inbound(protocol, uplink.ifindex, readIpv4(buf, l3 + 12), readIpv4(buf, l3 + 16), readIpv4(buf, l3 + 20));
    if (!flow) return this.counters.drop('offload-unmatched', len);
    const target = this.vsids.get(flow.plan.vsid);
    const record = target?.byCa.get(flow.plan.ca);
    if (!target || !record || record.nat) return this.counters.drop('no-lookup-record', len, target?.table.slot ?? -1);
    if (len > this.tenantMtu + ETHERNET_HEADER_LENGTH) return this.counters.drop('mtu-exceeded', len, target.table.slot);
    applyNat(buf, l3, flow.plan.inbound.rewrite, flow.inboundDeltas);
    writeMac(record.mac, buf, off);
    writeMac(target.table.gatewayMac, buf, off + 6);
    flow.packets++;
    this.counters.event('offloaded-inbound', len);
    this.tracer?.step('offload', `connection of routing domain ${flow.plan.domain.routingDomainId} offloaded from the kernel: translated to CA ${ipText(flow.plan.ca)}:${flow.plan.inbound.rewrite.dstPort} in VSID ${flow.plan.vsid}`);
    this.encapTo(target, record.pa, buf, off, len);
  }

  private fromTenant(tenant: Tenant, buf: Uint8Array, off: number, len: number): void {
    const entry = this.vsids.get(tenant.vsid);
    if (!entry) return this.counters.drop('unknown-vsid', len);
    const slot = entry.table.slot;
    if (len < ETHERNET_HEADER_LENGTH) return this.counters.drop('truncated-inner', len, slot);
    const dstMac = readMac(buf, off);
    if (isMulticastMac(dstMac)) {
      if (buf[off + 12] === 0x08 && buf[off + 13] === 0x06) return this.answerArp(tenant, entry, buf, off, len);
      this.tracer?.step('flood', `broadcast/multicast: replicated by unicast to the VSID's PAs ${entry.floodPas.map(ipText).join(', ') || '(none)'}`);
      for (const pa of entry.floodPas) {
        if (this.encapTo(entry, pa, buf, off, len) === 'ok') this.counters.event('flood-replicated', len);
      }
      return;
    }
    const record = entry.byMac.get(dstMac);
    let pa: number;
    if (record) {
      if (record.nat) return this.counters.drop('nat-rule-not-forwarded', len, slot);
      pa = record.pa;
      this.tracer?.step('lookup', `destination MAC ${dstMac.toString(16).padStart(12, '0')} is ${record.ca >= 0 ? `CA ${ipText(record.ca)}` : 'an IPv6 CA'} in VSID ${entry.table.vsid}, behind PA ${ipText(pa)}`);
    } else if (entry.table.wildcardPa >= 0) {
      pa = entry.table.wildcardPa;
      this.tracer?.step('lookup', `no record for MAC ${dstMac.toString(16).padStart(12, '0')}: the wildcard record sends it to PA ${ipText(pa)}`);
    } else {
      return this.counters.drop('no-lookup-record', len, slot);
    }
    this.encapTo(entry, pa, buf, off, len);
  }

  /**
   * An inner packet larger than the tenant MTU (PA MTU - 42), which a sender on a jumbo
   * fabric can send: with DF, ICMP fragmentation-needed with that MTU goes back through the
   * tunnel, as the Windows switch answers (1458 for a 1500-byte PA MTU); without DF, the
   * inner IPv4 packet is fragmented to the tenant MTU. Outer packets are never fragmented.
   */
  private oversize(entry: CompiledVsid, tenant: Tenant, buf: Uint8Array, inner: number, innerLength: number, senderPa: number, len: number): void {
    const slot = entry.table.slot;
    const l3 = inner + ETHERNET_HEADER_LENGTH;
    const ip = this.innerIp;
    if (buf[inner + 12] !== 0x08 || buf[inner + 13] !== 0x00 || parseIpv4(buf, l3, ip, inner + innerLength) !== 'ok') return this.counters.drop('mtu-exceeded', len, slot);
    if ((ip.flags & IPV4_FLAG_DF) !== 0) {
      this.counters.drop('mtu-exceeded', len, slot);
      const source = entry.table.gatewayCas[0];
      if (source === undefined) return; // no CA of ours in this VSID to answer from
      const out = this.scratch;
      writeMac(readMac(buf, inner + 6), out, 0);
      writeMac(entry.table.gatewayMac, out, 6);
      out[12] = 0x08;
      out[13] = 0x00;
      const icmpLength = formatIcmpFragmentationNeeded(out, ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH, buf, l3, inner + innerLength, this.tenantMtu);
      this.ipId = (this.ipId + 1) & 0xffff;
      formatIpv4(
        { headerLength: IPV4_MIN_HEADER_LENGTH, tos: 0, totalLength: IPV4_MIN_HEADER_LENGTH + icmpLength, id: this.ipId, flags: 0, fragmentOffset: 0, ttl: 64, protocol: IP_PROTOCOL_ICMP, checksum: 0, src: source, dst: ip.src },
        out,
        ETHERNET_HEADER_LENGTH,
      );
      if (this.encapTo(entry, senderPa, out, 0, ETHERNET_HEADER_LENGTH + IPV4_MIN_HEADER_LENGTH + icmpLength) === 'ok') {
        this.fabricTx.runCopies(); // the scratch is reused by the next one
        this.counters.event('icmp-frag-needed-sent');
        this.tracer?.step('mtu', `inner packet of ${innerLength - ETHERNET_HEADER_LENGTH} bytes with DF exceeds the tenant MTU ${this.tenantMtu}: ICMP fragmentation-needed sent back to ${ipText(ip.src)}`);
      }
      return;
    }
    // Fragment: every piece carries the header (options included) and a multiple of 8 bytes.
    const headerLength = ip.headerLength;
    const payload = ip.totalLength - headerLength;
    const step = Math.floor((this.tenantMtu - headerLength) / 8) * 8;
    const moreAfter = (ip.flags & IPV4_FLAG_MF) !== 0;
    for (let offset = 0; offset < payload; offset += step) {
      const n = Math.min(step, payload - offset);
      const at = tenant.egress.slot();
      if (at < 0) return this.counters.drop('tx-ring-full', len, slot);
      const tx = tenant.egress.tx.buffer;
      for (let i = 0; i < ETHERNET_HEADER_LENGTH + headerLength; i++) tx[at + i] = buf[inner + i]!;
      const l3out = at + ETHERNET_HEADER_LENGTH;
      setIpv4TotalLength(tx, l3out, headerLength + n);
      const last = offset + n >= payload;
      const flags = (ip.flags & IPV4_FLAG_DF) | (last && !moreAfter ? 0 : IPV4_FLAG_MF);
      const fragmentOffset = ip.fragmentOffset + offset / 8;
      tx[l3out + 6] = (flags << 5) | (fragmentOffset >>> 8);
      tx[l3out + 7] = fragmentOffset & 0xff;
      tx[l3out + 10] = 0;
      tx[l3out + 11] = 0;
      const checksum = internetChecksum(tx, l3out, headerLength);
      tx[l3out + 10] = checksum >>> 8;
      tx[l3out + 11] = checksum & 0xff;
      tenant.egress.queueCopy(buf, l3 + headerLength + offset, l3out + headerLength, n);
      tenant.egress.commit(ETHERNET_HEADER_LENGTH + headerLength + n, tenant.ifindex);
    }
    this.counters.decap(slot, innerLength);
    this.counters.event('inner-fragmented', innerLength);
    this.tracer?.step('mtu', `inner packet of ${innerLength - ETHERNET_HEADER_LENGTH} bytes without DF fragmented to the tenant MTU ${this.tenantMtu}`);
  }

  /** Encapsulates one inner frame towards `pa`; counts the outcome. */
  private encapTo(entry: CompiledVsid, pa: number, buf: Uint8Array, off: number, len: number): 'ok' | DropReason {
    const slot = entry.table.slot;
    const template = entry.templates.get(pa) ?? this.buildTemplate(entry, pa);
    if (typeof template === 'string') {
      this.counters.drop(template, len, slot);
      return template;
    }
    if (len + ENCAP_OVERHEAD > this.fabric.frameCapacity) {
      this.counters.drop('mtu-exceeded', len, slot);
      return 'mtu-exceeded';
    }
    const at = this.fabricTx.slot();
    if (at < 0) {
      this.counters.drop('tx-ring-full', len, slot);
      return 'tx-ring-full';
    }
    const tx = this.fabricTx.tx.buffer;
    this.fabricTx.queueCopy(buf, off, at + ENCAP_OVERHEAD, len);
    this.ipId = (this.ipId + 1) & 0xffff;
    // A peer that matches the whole key (Linux gretap) would drop anything but FlowID 0.
    const flowId = this.noFlowIdPas.has(pa) ? 0 : flowIdForFrame(buf, off, off + len);
    pushEncap(template, tx, at, len, flowId, this.ipId);
    this.fabricTx.commit(len + ENCAP_OVERHEAD);
    this.counters.encap(slot, len);
    if (this.tracer) {
      const nextHop = this.nextHops.get(pa) ?? -1;
      this.tracer.step(
        'encapsulate',
        `to PA ${ipText(pa)}${nextHop !== pa ? ` via provider next hop ${ipText(nextHop)}` : ' (on-link)'}, key 0x${(this.legacyKeyPas.has(pa) ? (flowId * 0x1000000 + entry.table.vsid) : (entry.table.vsid * 256 + flowId)).toString(16).padStart(8, '0')} (VSID ${entry.table.vsid}, FlowID ${flowId}${this.legacyKeyPas.has(pa) ? ', pre-KB2779768 format' : ''}), ${len + ENCAP_OVERHEAD} bytes out of ${this.fabric.name}`,
      );
    }
    return 'ok';
  }

  private buildTemplate(entry: CompiledVsid, pa: number): EncapTemplate | DropReason {
    const nextHop = this.nextHops.get(pa) ?? -1;
    if (nextHop < 0) return 'pa-unreachable';
    const mac = this.neighbours.get(nextHop);
    if (mac === undefined) {
      this.requestNextHop(nextHop);
      return 'neighbour-unresolved';
    }
    const template = buildEncapTemplate({
      outerSrcMac: readMac(this.fabric.mac, 0),
      outerDstMac: mac,
      outerSrcIp: this.sourcePa(),
      outerDstIp: pa,
      vsid: entry.table.vsid,
      ttl: this.ttl,
      keyFormat: this.legacyKeyPas.has(pa) ? 'ws2012-legacy' : 'rfc7637',
    });
    entry.templates.set(pa, template);
    return template;
  }

  private sourcePa(): number {
    for (const pa of this.gatewayPas) return pa;
    return 0;
  }

  /** Our own ARP on the fabric, so the outer header carries the next hop's MAC. */
  private requestNextHop(nextHop: number): void {
    const now = this.now();
    const last = this.arpSentAt.get(nextHop);
    if (last !== undefined && now - last < ARP_RETRY_MS) return;
    const at = this.fabricTx.slot();
    if (at < 0) return;
    this.arpSentAt.set(nextHop, now);
    const tx = this.fabricTx.tx.buffer;
    const ourMac = readMac(this.fabric.mac, 0);
    writeMac(BROADCAST_MAC, tx, at);
    writeMac(ourMac, tx, at + 6);
    tx[at + 12] = 0x08;
    tx[at + 13] = 0x06;
    const a = this.arp;
    a.operation = ARP_REQUEST;
    a.senderMac = ourMac;
    a.senderIp = this.sourcePa();
    a.targetMac = 0;
    a.targetIp = nextHop;
    formatArp(a, tx, at + ETHERNET_HEADER_LENGTH);
    this.fabricTx.commit(ETHERNET_HEADER_LENGTH + ARP_LENGTH);
    this.counters.event('fabric-arp-sent');
  }

  private learnFabricArp(buf: Uint8Array, at: number, end: number): void {
    if (parseArp(buf, at, this.arp, end) !== 'ok') return this.counters.drop('arp-invalid', end - at);
    const { senderIp, senderMac } = this.arp;
    // Learn only next hops we route through: an ARP from anyone else changes nothing.
    if (!this.arpSentAt.has(senderIp) && !this.neighbours.has(senderIp)) return;
    if (this.neighbours.get(senderIp) === senderMac) return;
    this.neighbours.set(senderIp, senderMac);
    // Templates towards PAs behind this next hop carry the old MAC; rebuild them lazily.
    for (const entry of this.vsids.values()) entry.templates.clear();
    this.counters.event('fabric-arp-learned');
  }

  /** Proxy ARP inside a VSID: the answer comes from the lookup records, never from flooding. */
  private answerArp(tenant: Tenant, entry: CompiledVsid, buf: Uint8Array, off: number, len: number): void {
    const a = this.arp;
    if (parseArp(buf, off + ETHERNET_HEADER_LENGTH, a, off + len) !== 'ok') return this.counters.drop('arp-invalid', len, entry.table.slot);
    if (a.operation !== ARP_REQUEST) return this.counters.drop('arp-invalid', len, entry.table.slot);
    const record = entry.byCa.get(a.targetIp);
    if (!record) return this.counters.drop('arp-unanswerable', len, entry.table.slot);
    const at = tenant.egress.slot();
    if (at < 0) return this.counters.drop('tx-ring-full', len, entry.table.slot);
    const tx = tenant.egress.tx.buffer;
    const requesterMac = a.senderMac;
    const requesterIp = a.senderIp;
    writeMac(requesterMac, tx, at);
    writeMac(record.mac, tx, at + 6);
    tx[at + 12] = 0x08;
    tx[at + 13] = 0x06;
    a.operation = ARP_REPLY;
    a.senderMac = record.mac;
    a.senderIp = record.ca;
    a.targetMac = requesterMac;
    a.targetIp = requesterIp;
    formatArp(a, tx, at + ETHERNET_HEADER_LENGTH);
    tenant.egress.commit(ETHERNET_HEADER_LENGTH + ARP_LENGTH, tenant.ifindex);
    this.counters.event('arp-answered');
    this.tracer?.step('arp', `answered for ${ipText(record.ca)} with ${record.mac.toString(16).padStart(12, '0')} from the lookup records (not flooded)`);
  }
}
