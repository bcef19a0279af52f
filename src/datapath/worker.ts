/**
 * The data-path worker thread: owns the packet ports and runs the pipeline, off the API's
 * event loop. Its loop blocks in poll() for at most 1 ms, drains every ready port, and
 * yields to its own event loop each round so that table updates (structured-cloned
 * messages from the control plane) apply between two batches: a lookup-record change
 * reaches the next packet without a restart and without touching other flows.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openConntrackChannel } from '../kernel/conntrack-channel.js';
import type { ConntrackChannel } from '../kernel/conntrack-channel.js';
import { createNeighbourReader } from '../kernel/neighbour-reader.js';
import type { NeighbourReader } from '../kernel/neighbour-reader.js';
import { CounterWriter } from './counters.js';
import { Dataplane, OFFLOAD_LIMIT } from './dataplane.js';
import { openFlowClaim } from './io/flow-claim.js';
import type { FlowClaim } from './io/flow-claim.js';
import type { FromWorker, TenantSpec, ToWorker, WorkerInit } from './messages.js';
import type { OffloadTables } from './offload.js';
import { OffloadManager } from './offload-manager.js';
import type { AttachedUplink, ConntrackTimeouts } from './offload-manager.js';
import { copyFrames, interfaceIndexes, openFabricPort, openSharedTenantPort, openTenantPort, openUplinkPort, PortWaiter, SHARED_PORT_FROM } from './ports.js';
import type { FramePort } from './io/frame-port.js';
import type { PacketPort } from './io/packet-port.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

let fabricPas = [...init.gatewayPas].sort().join(',');
const dataplane = new Dataplane(openFabricPort(init.fabricIfname, init.gatewayPas), new CounterWriter(init.counters), Date.now, copyFrames);
/** Attached tenants: on their own port, or (ifindex > 0) on the shared one. */
const open = new Map<number, { spec: TenantSpec; port: FramePort; ifindex: number }>();
let running = true;
/** The attached tenants changed since the last 'applied' message listed them. */
let openChanged = true;

/**
 * Tells the control plane which table generation runs; the tenant list only when it
 * changed: at thousands of VSIDs it is thousands of names to clone, and a lookup-record
 * change (the live-migration path) must not wait behind that.
 */
function applied(generation: number): void {
  const tenants = openChanged ? [...open.values()].map((e) => e.spec.ifname) : undefined;
  openChanged = false;
  send({ type: 'applied', generation, ...(tenants ? { tenants } : {}), shared: shared !== undefined });
}
/** Bumped whenever the set of polled ports changes, so the loop re-reads its poll list. */
let tenantsVersion = 0;
/** The one port of every veth tenant; undefined until the first one, or when switched off or failed. */
let shared: { port: PacketPort; mtu: number } | undefined;
let sharedFailed = false;
let tenantMtu = init.tables.tenantMtu;

/** Connection offload (offload-manager.ts): started with the first connected domain; off when switched off or when the kernel lacks ctnetlink. */
let offload: { manager: OffloadManager; channel: ConntrackChannel; neighbours: NeighbourReader } | undefined;
let offloadFailed = init.connectionOffload === false;
let offloadTables: OffloadTables = { domains: [], uplinks: [] };
/** Uplinks attached for offload: the port, its claim, and whether the claim's tcx half is in place (inbound offload). */
const uplinkPorts = new Map<string, { port: PacketPort; claim: FlowClaim | undefined; inbound: boolean }>();
/** Uplinks the tables name that could not be opened yet (the interface may appear later). */
let uplinkRetryAt = 0;
const OFFLOAD_TICK_MS = 250;
const UPLINK_RETRY_MS = 5000;

/** The kernel's conntrack timeouts in this namespace (the defaults where a key cannot be read). */
function conntrackTimeouts(): ConntrackTimeouts {
  const read = (key: string, fallback: number) => {
    try {
      const value = Number(readFileSync(`/proc/sys/net/netfilter/nf_conntrack_${key}`, 'utf8').trim());
      return Number.isInteger(value) && value > 0 ? value : fallback;
    } catch {
      return fallback;
    }
  };
  return { udp: read('udp_timeout', 30), udpStream: read('udp_timeout_stream', 120), tcpEstablished: read('tcp_timeout_established', 432000) };
}

function startOffload(): OffloadManager | undefined {
  if (offload) return offload.manager;
  if (offloadFailed) return undefined;
  let channel: ConntrackChannel | undefined;
  try {
    channel = openConntrackChannel();
    const neighbours = createNeighbourReader();
    const ct = channel;
    const manager = new OffloadManager(dataplane.offload, dataplane.offloadView, { update: (entry, change) => ct.update(entry, change), dump: () => ct.dump() }, (ifindex) => neighbours.read(ifindex), conntrackTimeouts());
    channel.onMessage((message) => manager.handle(message));
    channel.onOverrun(() => manager.handle({ kind: 'overrun' }));
    channel.onError((error) => send({ type: 'port-error', ifname: 'conntrack', message: `conntrack events: ${error.message}` }));
    offload = { manager, channel, neighbours };
    tenantsVersion++; // the poll list takes the conntrack socket
    return manager;
  } catch (error) {
    channel?.close();
    offloadFailed = true;
    send({ type: 'port-error', ifname: 'conntrack', message: `connection offload unavailable, the kernel carries every connection: ${(error as Error).message}` });
    return undefined;
  }
}

/**
 * Opens the uplink's claim and port. Without eBPF (no CAP_BPF) there is no claim, and
 * without tcx (Linux < 6.6) no kernel half to it: outbound offload only, then, and said so.
 */
function openUplink(ifname: string): void {
  let claim: FlowClaim | undefined;
  try {
    claim = openFlowClaim({ maxEntries: OFFLOAD_LIMIT, maxFrameLength: tenantMtu + 14 });
  } catch (error) {
    send({ type: 'port-error', ifname, message: `inbound connection offload unavailable (outbound only): no eBPF claim: ${(error as Error).message}` });
  }
  try {
    const port = openUplinkPort(ifname, claim?.socketFilterFd);
    let inbound = false;
    if (claim) {
      try {
        claim.attachIngress(port.ifindex);
        inbound = true;
      } catch (error) {
        send({ type: 'port-error', ifname, message: `inbound connection offload unavailable (outbound only): ${(error as Error).message}` });
      }
    }
    dataplane.attachUplink(port);
    uplinkPorts.set(ifname, { port, claim, inbound });
    tenantsVersion++;
  } catch (error) {
    claim?.close();
    send({ type: 'port-error', ifname, message: `uplink not opened for connection offload: ${(error as Error).message}` });
  }
}

function closeUplink(ifname: string): void {
  const entry = uplinkPorts.get(ifname);
  if (!entry) return;
  uplinkPorts.delete(ifname);
  entry.claim?.close(); // tcx detached: the kernel sees every frame again
  dataplane.detachUplink(entry.port.ifindex);
  entry.port.close();
  tenantsVersion++;
}

/** New offload tables: the domains' marks, the uplinks' ports and claims, and the manager's view of both. */
function setOffload(tables: OffloadTables): void {
  offloadTables = tables;
  dataplane.setOffloadDomains(tables.domains);
  const manager = tables.domains.length > 0 ? startOffload() : offload?.manager;
  const wanted = new Set(manager ? tables.uplinks.map((u) => u.ifname) : []);
  for (const ifname of wanted) if (!uplinkPorts.has(ifname)) openUplink(ifname);
  uplinkRetryAt = Date.now() + UPLINK_RETRY_MS;
  const attached = new Map<string, AttachedUplink>();
  for (const [ifname, entry] of uplinkPorts) if (wanted.has(ifname)) attached.set(ifname, { ifindex: entry.port.ifindex, claim: entry.inbound ? entry.claim : undefined });
  // The manager lets go of an uplink's connections before its port and claim go.
  manager?.setTables(tables, attached);
  for (const ifname of [...uplinkPorts.keys()]) if (!wanted.has(ifname)) closeUplink(ifname);
}

let statsText = '';
function offloadTick(now: number): void {
  if (!offload) return;
  if (now >= uplinkRetryAt && offloadTables.uplinks.some((u) => !uplinkPorts.has(u.ifname))) setOffload(offloadTables);
  offload.manager.tick();
  const stats = offload.manager.stats();
  const text = JSON.stringify(stats);
  if (text !== statsText) {
    statsText = text;
    send({ type: 'offload', stats });
  }
}

function detach(vsid: number): void {
  const entry = open.get(vsid);
  if (!entry) return;
  dataplane.detachTenant(vsid);
  open.delete(vsid);
  openChanged = true;
  if (entry.ifindex === 0) {
    entry.port.close();
    tenantsVersion++;
  } else if (shared && entry.port === shared.port) {
    shared.port.refuse(entry.ifindex);
  }
}

/** Whether `specs` are served through the shared port (config datapath.sharedTenantPort). */
function wantShared(specs: readonly TenantSpec[]): boolean {
  if (sharedFailed || init.sharedTenantPort === 'off') return false;
  if (init.sharedTenantPort === 'on') return true;
  const veth = specs.filter((s) => s.kind === 'veth').length;
  // Once shared, stay until well below the threshold: a count around it must not move
  // every tenant between ports back and forth.
  return shared ? veth >= SHARED_PORT_FROM / 2 : veth >= SHARED_PORT_FROM;
}

/** Closes the shared port; its tenants must have been detached. */
function dropSharedPort(): void {
  if (!shared) return;
  dataplane.setSharedTenantPort(undefined);
  shared.port.close();
  shared = undefined;
  tenantsVersion++; // the poll list must not keep the closed descriptor
}

/** Opens the shared port for veth tenants, or reopens it when the tenant MTU outgrew its slots. */
function sharedPort(): PacketPort | undefined {
  if (sharedFailed) return undefined;
  if (shared && shared.mtu >= tenantMtu) return shared.port;
  for (const [vsid, entry] of open) if (entry.ifindex > 0) detach(vsid);
  dropSharedPort();
  try {
    const port = openSharedTenantPort(tenantMtu);
    shared = { port, mtu: Math.max(tenantMtu, 1500) };
    dataplane.setSharedTenantPort(port);
    tenantsVersion++;
    return port;
  } catch (error) {
    // No eBPF here (an old kernel, a container without CAP_BPF): a port per VSID still works.
    sharedFailed = true;
    send({ type: 'port-error', ifname: 'nvgw-tenants', message: `shared tenant port unavailable, one port per VSID instead: ${(error as Error).message}` });
    return undefined;
  }
}

/**
 * Brings the attached tenants to `specs`. A veth tenant on the shared port is attached
 * by its data-path end's current ifindex, so an interface deleted and created again
 * under the same name is re-admitted. `reportMissing` false: an interface that does not
 * exist yet is skipped silently (the start, before the first kernel pass).
 */
function setTenants(specs: TenantSpec[], reportMissing = true): void {
  const hub = wantShared(specs) ? sharedPort() : undefined;
  const indexes = hub ? interfaceIndexes() : undefined;
  const wanted = new Map(specs.map((s) => [s.vsid, s]));
  for (const [vsid, entry] of open) {
    const spec = wanted.get(vsid);
    // On the shared port: gone from it, or its interface recreated; on its own: to be shared now.
    const moved = entry.ifindex > 0 ? entry.port !== hub || indexes?.get(entry.spec.ifname) !== entry.ifindex : hub !== undefined && entry.spec.kind === 'veth';
    if (!spec || spec.ifname !== entry.spec.ifname || spec.kind !== entry.spec.kind || moved) detach(vsid);
  }
  if (!hub) dropSharedPort();
  for (const spec of specs) {
    if (open.has(spec.vsid)) continue;
    try {
      if (hub && spec.kind === 'veth') {
        const ifindex = indexes!.get(spec.ifname);
        if (ifindex === undefined) {
          if (reportMissing) send({ type: 'port-error', ifname: spec.ifname, message: `no interface ${spec.ifname} (ENODEV)` });
          continue;
        }
        hub.admit(ifindex);
        dataplane.attachTenant(spec.vsid, hub, ifindex);
        open.set(spec.vsid, { spec, port: hub, ifindex });
        openChanged = true;
        continue;
      }
      const tenantPort = openTenantPort(spec);
      open.set(spec.vsid, { spec, port: tenantPort, ifindex: 0 });
      openChanged = true;
      dataplane.attachTenant(spec.vsid, tenantPort);
      tenantsVersion++;
    } catch (error) {
      if (reportMissing || !/ENODEV/.test((error as Error).message)) send({ type: 'port-error', ifname: spec.ifname, message: (error as Error).message });
    }
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'tables': {
      dataplane.setTables(message.tables);
      if (message.tables.offload) setOffload(message.tables.offload);
      const outgrown = shared !== undefined && message.tables.tenantMtu > shared.mtu;
      tenantMtu = message.tables.tenantMtu;
      // Frames now larger than the shared port's slots: reopen it for the tenants it served.
      if (outgrown) setTenants([...open.values()].map((e) => e.spec));
      applied(message.tables.generation);
      break;
    }
    case 'tenants':
      setTenants(message.tenants, message.reportMissing ?? true);
      applied(dataplane.tablesGeneration);
      break;
    case 'fabric': {
      const pas = [...message.gatewayPas].sort().join(',');
      if (pas === fabricPas) break;
      try {
        dataplane.replaceFabric(openFabricPort(init.fabricIfname, message.gatewayPas)).close();
        fabricPas = pas;
        tenantsVersion++;
      } catch (error) {
        send({ type: 'port-error', ifname: init.fabricIfname, message: (error as Error).message });
      }
      break;
    }
    case 'stop':
      running = false;
      break;
  }
});

dataplane.setTables(init.tables);
if (init.tables.offload) setOffload(init.tables.offload);
setTenants(init.tenants, init.reportMissing ?? true);
send({ type: 'ready' });

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

async function loop(): Promise<void> {
  let waiter = new PortWaiter(dataplane.ports());
  let seen = tenantsVersion;
  // Which ports poll(2) found readable: a round then looks at those (and the fabric) only.
  const ready = new Int32Array(1024);
  let nextTick = 0;
  while (running) {
    if (seen !== tenantsVersion) {
      waiter = new PortWaiter(dataplane.ports(), offload ? [offload.channel.fd] : []);
      seen = tenantsVersion;
    }
    const count = waiter.wait(1, ready);
    dataplane.poll(ready, count);
    if (offload) {
      offload.channel.pump();
      const now = Date.now();
      if (now >= nextTick) {
        nextTick = now + OFFLOAD_TICK_MS;
        offloadTick(now);
      }
    }
    await yieldToEvents();
  }
  // Every connection back to the kernel before the ports go.
  offload?.manager.clear();
  for (const ifname of [...uplinkPorts.keys()]) closeUplink(ifname);
  offload?.channel.close();
  offload?.neighbours.close();
  for (const entry of open.values()) if (entry.ifindex === 0) entry.port.close();
  shared?.port.close();
  for (const p of dataplane.ports().slice(0, 1)) p.close();
  send({ type: 'stopped' });
}

loop().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? error.stack ?? error.message : String(error) });
});
