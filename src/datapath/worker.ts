/**
 * The data-path worker thread: owns the packet ports and runs the pipeline, off the API's
 * event loop. Its loop blocks in poll() for at most 1 ms, drains every ready port, and
 * yields to its own event loop each round so that table updates (structured-cloned
 * messages from the control plane) apply between two batches: a lookup-record change
 * reaches the next packet without a restart and without touching other flows.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CounterWriter } from './counters.js';
import { Dataplane } from './dataplane.js';
import type { FromWorker, TenantSpec, ToWorker, WorkerInit } from './messages.js';
import { copyFrames, interfaceIndexes, openFabricPort, openSharedTenantPort, openTenantPort, PortWaiter, SHARED_PORT_FROM } from './ports.js';
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
/** Bumped whenever the set of polled ports changes, so the loop re-reads its poll list. */
let tenantsVersion = 0;
/** The one port of every veth tenant; undefined until the first one, or when switched off or failed. */
let shared: { port: PacketPort; mtu: number } | undefined;
let sharedFailed = false;
let tenantMtu = init.tables.tenantMtu;

function detach(vsid: number): void {
  const entry = open.get(vsid);
  if (!entry) return;
  dataplane.detachTenant(vsid);
  open.delete(vsid);
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
        continue;
      }
      const tenantPort = openTenantPort(spec);
      open.set(spec.vsid, { spec, port: tenantPort, ifindex: 0 });
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
      const outgrown = shared !== undefined && message.tables.tenantMtu > shared.mtu;
      tenantMtu = message.tables.tenantMtu;
      // Frames now larger than the shared port's slots: reopen it for the tenants it served.
      if (outgrown) setTenants([...open.values()].map((e) => e.spec));
      send({ type: 'applied', generation: message.tables.generation, tenants: [...open.values()].map((e) => e.spec.ifname), shared: shared !== undefined });
      break;
    }
    case 'tenants':
      setTenants(message.tenants, message.reportMissing ?? true);
      send({ type: 'applied', generation: dataplane.tablesGeneration, tenants: [...open.values()].map((e) => e.spec.ifname), shared: shared !== undefined });
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
setTenants(init.tenants, init.reportMissing ?? true);
send({ type: 'ready' });

const yieldToEvents = () => new Promise<void>((resolve) => setImmediate(resolve));

async function loop(): Promise<void> {
  let waiter = new PortWaiter(dataplane.ports());
  let seen = tenantsVersion;
  // Which ports poll(2) found readable: a round then looks at those (and the fabric) only.
  const ready = new Int32Array(1024);
  while (running) {
    if (seen !== tenantsVersion) {
      waiter = new PortWaiter(dataplane.ports());
      seen = tenantsVersion;
    }
    const count = waiter.wait(1, ready);
    dataplane.poll(ready, count);
    await yieldToEvents();
  }
  for (const entry of open.values()) if (entry.ifindex === 0) entry.port.close();
  shared?.port.close();
  for (const p of dataplane.ports().slice(0, 1)) p.close();
  send({ type: 'stopped' });
}

loop().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? error.stack ?? error.message : String(error) });
});
