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
import { copyFrames, openFabricPort, openTenantPort, PortWaiter } from './ports.js';
import type { FramePort } from './io/frame-port.js';

const init = workerData as WorkerInit;
const port = parentPort!;
const send = (message: FromWorker) => port.postMessage(message);

let fabricPas = [...init.gatewayPas].sort().join(',');
const dataplane = new Dataplane(openFabricPort(init.fabricIfname, init.gatewayPas), new CounterWriter(init.counters), Date.now, copyFrames);
const open = new Map<number, { spec: TenantSpec; port: FramePort }>();
let running = true;
/** Bumped whenever the set of tenant ports changes, so the loop re-reads its poll list. */
let tenantsVersion = 0;

function setTenants(specs: TenantSpec[]): void {
  const wanted = new Map(specs.map((s) => [s.vsid, s]));
  for (const [vsid, entry] of open) {
    const spec = wanted.get(vsid);
    if (!spec || spec.ifname !== entry.spec.ifname || spec.kind !== entry.spec.kind) {
      dataplane.detachTenant(vsid);
      entry.port.close();
      open.delete(vsid);
      tenantsVersion++;
    }
  }
  for (const spec of specs) {
    if (open.has(spec.vsid)) continue;
    try {
      const tenantPort = openTenantPort(spec);
      open.set(spec.vsid, { spec, port: tenantPort });
      dataplane.attachTenant(spec.vsid, tenantPort);
      tenantsVersion++;
    } catch (error) {
      send({ type: 'port-error', ifname: spec.ifname, message: (error as Error).message });
    }
  }
}

port.on('message', (message: ToWorker) => {
  switch (message.type) {
    case 'tables':
      dataplane.setTables(message.tables);
      send({ type: 'applied', generation: message.tables.generation, tenants: [...open.values()].map((e) => e.spec.ifname) });
      break;
    case 'tenants':
      setTenants(message.tenants);
      send({ type: 'applied', generation: dataplane.tablesGeneration, tenants: [...open.values()].map((e) => e.spec.ifname) });
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
setTenants(init.tenants);
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
  for (const entry of open.values()) entry.port.close();
  for (const p of dataplane.ports().slice(0, 1)) p.close();
  send({ type: 'stopped' });
}

loop().catch((error: unknown) => {
  send({ type: 'fatal', message: error instanceof Error ? error.stack ?? error.message : String(error) });
});
