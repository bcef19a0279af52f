/**
 * Desired state -> kernel, firewall and data path, safe to repeat (kube-router style):
 * every pass computes the whole intent and lets each adapter make its world match it.
 * The kernel takes it in slices of domains (pass-scope.ts), asking for each slice's
 * permanent neighbours as it reaches it: the whole neighbour set is never built at once.
 *
 * Two speeds. The data path's tables are updated at once, incrementally, for the VSIDs a
 * change touched: a live-migrated VM's new PA reaches the next packet. The kernel and the
 * firewall are reconciled in a coalesced pass right after (and on a resync timer, which
 * repairs drift such as a route someone deleted by hand). Passes never overlap.
 */
import type { Logger } from 'pino';
import type { ConfigService } from '../control/config-service.js';
import type { DatapathPort } from '../datapath/engine.js';
import type { TenantSpec } from '../datapath/messages.js';
import type { NotForwardedRecord } from '../datapath/tables.js';
import { buildTables, gatewayPasOf, offloadTables } from '../datapath/tables.js';
import type { TableOptions } from '../datapath/tables.js';
import type { FirewallPort } from '../firewall/iptables.js';
import type { Backend } from '../kernel/intent.js';
import type { NeighbourLookup, SlicedPass } from '../kernel/kernel-port.js';
import { sliceDomains } from '../kernel/pass-scope.js';
import type { Change } from '../model/desired-state.js';
import { withExternal } from '../nat/intent.js';
import type { AllocationStore } from '../store/state-store.js';
import type { TenantKind } from './kernel-intent.js';
import { buildKernelIntent, kernelRecordsSignature, neighbourIntents } from './kernel-intent.js';

/** The kernel adapter as the reconciler uses it. */
export interface KernelReconciler {
  detectBackend(): Promise<Backend>;
  /**
   * Makes the kernel match the intent, slice by slice, taking each slice's neighbours from
   * `neighboursOf` as it reaches it; returns the objects that failed (the rest are applied).
   */
  reconcile(pass: SlicedPass, neighboursOf: NeighbourLookup): Promise<{ failed: { object: string; error: string }[]; phases?: KernelPhases }>;
}

export interface ReconcilerOptions {
  tenantKind: TenantKind;
  /** PA MTU; tenant interfaces get this minus the 42 bytes of NVGRE overhead. */
  paMtu: number;
  fabricIfname: string;
  resyncMs: number;
  /** First routing table number to allocate. */
  firstTable: number;
  /** Route between the VSIDs of a domain in the data path (datapath.routeBetweenVsids). */
  routeBetweenVsids?: boolean;
  /** Applied once to each new kernel-side tenant interface (offloads off). */
  tuneTenantLink?: (ifname: string) => Promise<void>;
}

/** Where a kernel pass spent its time (ReconcileResult.phases). */
export interface KernelPhases {
  observeMs: number;
  planMs: number;
  applyMs: number;
  steps: number;
  /** Slices the pass ran in (pass-scope.ts). */
  slices?: number;
}

export interface ReconcileStatus {
  backend: Backend | 'unknown';
  passes: number;
  lastPass?: {
    at: string;
    durationMs: number;
    /** The kernel's observe/plan/apply, tenant-link offloads and the firewall, in ms. */
    phases?: KernelPhases & { offloadsMs: number; firewallMs: number };
    failed: { object: string; error: string }[];
    firewallError?: string;
  };
  notForwarded: NotForwardedRecord[];
  tables: Record<string, number>;
  /** Conntrack zone of each routing domain (its NAT state and connections live there). */
  zones: Record<string, number>;
}

/** Changes that alter a domain's routes as the data path sees them (tables.ts domainRoutes). */
const ROUTE_KINDS = new Set<Change['kind']>(['routingDomains', 'customerRoutes', 'externalNetworks', 'natConnections', 'routedConnections']);

/**
 * Permanent neighbours a slice of a kernel pass holds at most (a larger domain is a slice
 * of its own). At 25 records per VSID, 320 VSIDs: what a slice's worker observes, plans and
 * applies stays in the tens of MB at any scale (docs/performance.md section 9).
 */
const SLICE_NEIGHBOURS = 8_000;

const TABLE_PREFIX = 'table:';
const ZONE_PREFIX = 'zone:';
/** Conntrack zones are 16 bits; 0 is the default zone, shared by everything outside a domain. */
const ZONE_MAX = 0xffff;

export class Reconciler {
  private backend: Backend | undefined;
  private generation = 0;
  private passes = 0;
  private lastPass: ReconcileStatus['lastPass'];
  private notForwarded: NotForwardedRecord[] = [];
  private running: Promise<void> | undefined;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly tuned = new Set<string>();
  /** The next pass is a resync: the firewall is read back and rewritten whole (drift repair). */
  private resyncDue = false;
  /**
   * kernelRecordsSignature of every VSID as of the last pass's intent: a change of lookup
   * records that leaves a VSID's signature equal needs no kernel pass (see onChange).
   */
  private kernelRecords = new Map<number, string>();
  /** The connection-offload tables last sent to the data path (JSON), so a pass sends them only when they change. */
  private offloadSent = '';

  constructor(
    private readonly service: ConfigService,
    private readonly allocations: AllocationStore,
    private readonly kernel: KernelReconciler,
    private readonly firewall: FirewallPort,
    private readonly datapath: DatapathPort,
    private readonly logger: Logger,
    private readonly options: ReconcilerOptions,
  ) {}

  /** Detects the backend, brings everything to the desired state, and starts listening. */
  async start(): Promise<void> {
    this.backend = await this.kernel.detectBackend();
    this.logger.info({ backend: this.backend }, this.backend === 'vrf' ? 'kernel has VRF: one VRF device per routing domain' : 'kernel has no VRF: routing domains are tables selected by ip rules (policy routing)');
    this.allocateTables();
    // The data path first: after a restart the tenant interfaces are still there, so it
    // forwards again at once instead of after a whole kernel pass (which at thousands of
    // VSIDs takes tens of seconds and mostly finds nothing to change). Interfaces that do
    // not exist yet are attached once the pass has created them.
    const build = buildTables(this.service.current, ++this.generation, (vsid) => this.datapath.slotOf(vsid), this.tableOptions());
    build.tables.offload = this.offloadTables();
    this.offloadSent = JSON.stringify(build.tables.offload);
    this.notForwarded = build.notForwarded;
    await this.datapath.start(this.options.fabricIfname, [...gatewayPasOf(this.service.current)], build.tables, this.tenantSpecs(), { reportMissing: false });
    await this.kernelPass();
    this.datapath.setTenants(this.tenantSpecs());
    this.service.onApplying((changes) => this.toDatapath(changes));
    this.service.onChange((changes) => this.onChange(changes));
    this.timer = setInterval(() => {
      this.resyncDue = true;
      this.schedule();
    }, this.options.resyncMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
    await this.datapath.stop();
  }

  status(): ReconcileStatus {
    return {
      backend: this.backend ?? 'unknown',
      passes: this.passes,
      ...(this.lastPass ? { lastPass: this.lastPass } : {}),
      notForwarded: this.notForwarded,
      tables: Object.fromEntries([...this.allocations.allocations()].filter(([name]) => name.startsWith(TABLE_PREFIX)).map(([name, table]) => [name.slice(TABLE_PREFIX.length), table])),
      zones: Object.fromEntries([...this.allocations.allocations()].filter(([name]) => name.startsWith(ZONE_PREFIX)).map(([name, zone]) => [name.slice(ZONE_PREFIX.length), zone])),
    };
  }

  /** Resolves once the kernel/firewall pass that follows every change so far has finished. */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * The data path's part of a change, before the store's fsync (ConfigService.onApplying):
   * the live-migration path, measured from the request. A change the store then refuses
   * comes back here as its inverse.
   */
  private toDatapath(changes: readonly Change[]): void {
    const { touched, global, routes } = scopeOf(changes);
    for (const c of changes) if (c.kind === 'virtualSubnets' && c.item === null) this.datapath.releaseSlot(Number(c.key));
    if (global || routes || touched.size > 0) {
      const build = buildTables(this.service.current, ++this.generation, (vsid) => this.datapath.slotOf(vsid), this.tableOptions(global ? undefined : touched, routes));
      this.datapath.update(build.tables);
      if (global) this.notForwarded = build.notForwarded;
      else this.notForwarded = [...this.notForwarded.filter((r) => !touched.has(r.virtualSubnetId)), ...build.notForwarded];
    }
  }

  private onChange(changes: readonly Change[]): void {
    const { touched } = scopeOf(changes);
    // A VM that moved to another host changes only its record's PA, which only the data
    // path uses: no kernel pass (at thousands of VSIDs a pass is seconds of work, and a
    // migration storm would queue them back to back). The periodic resync still runs.
    if (changes.every((c) => c.kind === 'lookupRecords') && this.kernelRecordsUnchanged(touched)) return;
    this.schedule();
  }

  /** Runs a kernel/firewall pass now, or right after the one in progress. */
  private schedule(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = (async () => {
      // Not in the caller's turn: a change arrives from an API request, whose response
      // should not wait for the pass's synchronous first part (building the whole
      // intent: tens of milliseconds at thousands of VSIDs).
      await new Promise<void>((resolve) => setImmediate(resolve));
      do {
        this.again = false;
        this.allocateTables();
        await this.kernelPass();
        this.datapath.setGatewayPas([...gatewayPasOf(this.service.current)]);
        this.datapath.setTenants(this.tenantSpecs());
        this.sendOffloadTables();
      } while (this.again && !this.stopped);
    })()
      .catch((error: unknown) => this.logger.error({ err: error }, 'reconcile pass failed'))
      .finally(() => {
        this.running = undefined;
      });
  }

  private kernelRecordsUnchanged(vsids: ReadonlySet<number>): boolean {
    const state = this.service.current;
    const gatewayPas = gatewayPasOf(state);
    for (const vsid of vsids) if (this.kernelRecords.get(vsid) !== kernelRecordsSignature(state, vsid, gatewayPas)) return false;
    return true;
  }

  private async kernelPass(): Promise<void> {
    const started = Date.now();
    const state = this.service.current;
    const gatewayPas = gatewayPasOf(state);
    this.kernelRecords = new Map([...state.list('virtualSubnets')].map((s) => [s.virtualSubnetId, kernelRecordsSignature(state, s.virtualSubnetId, gatewayPas)]));
    // Everything but the neighbours (100,000 at the scale goal): the kernel pass asks for
    // them slice by slice, from the state as it is then.
    const domainsOnly = buildKernelIntent(state, {
      backend: this.backend!,
      tenantKind: this.options.tenantKind,
      tenantMtu: this.options.paMtu - 42,
      tableOf: (rd) => this.allocations.allocations().get(`${TABLE_PREFIX}${rd}`)!,
      neighbours: false,
    });
    const external = withExternal(state, domainsOnly, (rd) => this.allocations.allocations().get(`${ZONE_PREFIX}${rd}`)!);
    const intent = external.kernel;
    const full = this.resyncDue;
    this.resyncDue = false;
    const slices = sliceDomains(intent, (vsid) => state.recordCountOf(vsid), SLICE_NEIGHBOURS);
    const report = await this.kernel.reconcile({ intent, slices }, (vsids) => {
      const now = this.service.current;
      const pas = gatewayPasOf(now);
      return vsids.map((vsid) => [vsid, neighbourIntents(now, vsid, pas)]);
    });
    const failedObjects = new Set(report.failed.map((f) => f.object));
    const offloadsFrom = Date.now();
    if (this.options.tuneTenantLink) {
      const wanted = new Set(intent.domains.flatMap((d) => d.subnets.filter((s) => s.kind === 'veth').map((s) => s.ifname)));
      for (const ifname of this.tuned) if (!wanted.has(ifname)) this.tuned.delete(ifname);
      for (const ifname of wanted) {
        if (this.tuned.has(ifname)) continue;
        try {
          await this.options.tuneTenantLink(ifname);
          this.tuned.add(ifname);
        } catch (error) {
          if (!failedObjects.has(ifname)) report.failed.push({ object: `offloads of ${ifname}`, error: (error as Error).message });
        }
      }
    }
    const firewallFrom = Date.now();
    let firewallError: string | undefined;
    try {
      await this.firewall.apply({
        gatewayPas: [...state.list('providerAddresses')].map((pa) => pa.providerAddress).filter((pa) => !pa.includes(':')),
        domainMarks:
          this.backend === 'policy-routing'
            ? intent.domains.flatMap((d) => d.subnets.map((s) => ({ ifname: s.ifname, mark: d.mark, routingDomainId: d.routingDomainId, vsid: s.vsid })))
            : [],
        domainAddresses:
          this.backend === 'policy-routing'
            ? intent.domains.flatMap((d) => d.subnets.flatMap((s) => s.addresses.filter((a) => !a.address.includes(':')).map((a) => ({ mark: d.mark, address: a.address }))))
            : [],
        vrfDomains:
          this.backend === 'vrf'
            ? intent.domains.map((d) => ({ vrfName: d.vrfName, routingDomainId: d.routingDomainId, addresses: d.subnets.flatMap((s) => s.addresses.map((a) => a.address).filter((a) => !a.includes(':'))) }))
            : [],
        nat: external.firewall,
      }, { full });
    } catch (error) {
      firewallError = (error as Error).message;
      this.logger.error({ err: error }, 'firewall rules not applied; the previous rules stay in force');
    }
    this.passes++;
    const phases = report.phases ? { ...report.phases, offloadsMs: firewallFrom - offloadsFrom, firewallMs: Date.now() - firewallFrom } : undefined;
    this.lastPass = { at: new Date(started).toISOString(), durationMs: Date.now() - started, ...(phases ? { phases } : {}), failed: report.failed, ...(firewallError ? { firewallError } : {}) };
    if (report.failed.length > 0) this.logger.error({ failed: report.failed }, 'some kernel objects could not be reconciled');
  }

  /**
   * The domains with an external connection, by the mark and zone their connections carry.
   * Sent after a kernel pass, when the firewall that gives connections those marks is in
   * place (a new domain's table and zone are allocated by the pass).
   */
  private offloadTables() {
    const allocations = this.allocations.allocations();
    return offloadTables(this.service.current, (rd) => allocations.get(`${TABLE_PREFIX}${rd}`), (rd) => allocations.get(`${ZONE_PREFIX}${rd}`));
  }

  private sendOffloadTables(): void {
    const offload = this.offloadTables();
    const text = JSON.stringify(offload);
    if (text === this.offloadSent) return;
    this.offloadSent = text;
    const build = buildTables(this.service.current, ++this.generation, (vsid) => this.datapath.slotOf(vsid), this.tableOptions(new Set()));
    this.datapath.update({ ...build.tables, offload });
  }

  private tableOptions(only?: ReadonlySet<number>, routes = false): TableOptions {
    return { ...(only ? { only } : {}), routes, tenantMtu: this.options.paMtu - 42, routeBetweenVsids: this.options.routeBetweenVsids ?? true };
  }

  private tenantSpecs(): TenantSpec[] {
    return [...this.service.current.list('virtualSubnets')].map((subnet) => ({
      vsid: subnet.virtualSubnetId,
      ifname: this.options.tenantKind === 'tap' ? `nvgw-t${subnet.virtualSubnetId}` : `nvgw-d${subnet.virtualSubnetId}`,
      kind: this.options.tenantKind,
    }));
  }

  /** Routing tables are allocated once per domain and persisted, so a restart finds the same numbers. */
  private allocateTables(): void {
    const current = this.allocations.allocations();
    const used = new Set([...current].filter(([name]) => name.startsWith(TABLE_PREFIX)).map(([, table]) => table));
    const wanted = new Set([...this.service.current.list('routingDomains')].map((rd) => `${TABLE_PREFIX}${rd.routingDomainId}`));
    const changes: [string, number | null][] = [];
    let next = this.options.firstTable;
    for (const name of wanted) {
      if (current.has(name)) continue;
      while (used.has(next)) next++;
      used.add(next);
      changes.push([name, next]);
    }
    for (const name of current.keys()) if (name.startsWith(TABLE_PREFIX) && !wanted.has(name)) changes.push([name, null]);
    if (changes.length > 0) this.allocations.saveAllocations(changes);
    this.allocateZones();
  }

  /**
   * A conntrack zone per routing domain, persisted like its table (a restart must not move a
   * domain's connections to another zone). The zone is the domain's table number when that
   * fits 16 bits and is free, so `zone=1000` and `mark=0x3e8` name the same domain in
   * conntrack and iptables listings; otherwise the lowest free zone from 1.
   */
  private allocateZones(): void {
    const current = this.allocations.allocations();
    const zoneOf = new Map([...current].filter(([name]) => name.startsWith(ZONE_PREFIX)).map(([name, zone]) => [name.slice(ZONE_PREFIX.length), zone]));
    const wanted = new Set([...this.service.current.list('routingDomains')].map((rd) => rd.routingDomainId));
    const changes: [string, number | null][] = [];
    for (const [rd] of zoneOf) {
      if (!wanted.has(rd)) {
        changes.push([`${ZONE_PREFIX}${rd}`, null]);
        zoneOf.delete(rd);
      }
    }
    const used = new Set(zoneOf.values());
    let next = 1;
    for (const rd of wanted) {
      if (zoneOf.has(rd)) continue;
      const table = current.get(`${TABLE_PREFIX}${rd}`);
      let zone: number;
      if (table !== undefined && table <= ZONE_MAX && !used.has(table)) {
        zone = table;
      } else {
        while (used.has(next)) next++;
        if (next > ZONE_MAX) throw new Error(`no conntrack zone left for routing domain ${rd}: all ${ZONE_MAX} are in use`);
        zone = next;
      }
      used.add(zone);
      zoneOf.set(rd, zone);
      changes.push([`${ZONE_PREFIX}${rd}`, zone]);
    }
    if (changes.length > 0) this.allocations.saveAllocations(changes);
  }
}

/** Which VSIDs a change touches for the data path, and whether it reaches all of them. */
function scopeOf(changes: readonly Change[]): { touched: Set<number>; global: boolean; routes: boolean } {
  const touched = new Set<number>();
  let global = false;
  let routes = false;
  for (const change of changes) {
    if (change.kind === 'lookupRecords') touched.add(Number(change.key.split('|')[0]));
    else if (change.kind === 'virtualSubnets') touched.add(Number(change.key));
    else if (change.kind === 'providerAddresses' || change.kind === 'providerRoutes' || change.kind === 'providerPeers') global = true;
    if (ROUTE_KINDS.has(change.kind)) routes = true;
  }
  return { touched, global, routes };
}
