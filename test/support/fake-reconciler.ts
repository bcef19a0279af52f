/**
 * A Reconciler over in-memory fakes (store, kernel, firewall, data path), started on a
 * configuration: for unit tests of what it hands the kernel and the firewall.
 */
import { pino } from 'pino';
import { ConfigService } from '../../src/control/config-service.js';
import { FakeDatapath } from '../../src/datapath/engine.js';
import { FakeFirewall } from '../../src/firewall/iptables.js';
import type { Backend, KernelIntent } from '../../src/kernel/intent.js';
import { Reconciler } from '../../src/reconciler/reconciler.js';
import { MemoryStore } from '../../src/store/memory-store.js';

export interface FakeReconcilerOptions {
  backend?: Backend;
  resyncMs?: number;
}

/** A reconciler on `service`'s state; kernel intents it hands over are pushed to `kernelIntents`. */
export function fakeReconciler(service: ConfigService, store: MemoryStore, options: FakeReconcilerOptions = {}, kernelIntents: KernelIntent[] = []) {
  const firewall = new FakeFirewall();
  const datapath = new FakeDatapath();
  const sut = new Reconciler(
    service,
    store,
    {
      detectBackend: () => Promise.resolve(options.backend ?? 'policy-routing'),
      reconcile: ({ intent }, neighboursOf) => {
        // The whole intent as one pass would see it: every subnet with its neighbours.
        const neighbours = new Map(neighboursOf(intent.domains.flatMap((d) => d.subnets.map((s) => s.vsid))));
        kernelIntents.push({ ...intent, domains: intent.domains.map((d) => ({ ...d, subnets: d.subnets.map((s) => ({ ...s, neighbours: neighbours.get(s.vsid) ?? [] })) })) });
        return Promise.resolve({ failed: [] });
      },
    },
    firewall,
    datapath,
    pino({ level: 'silent' }),
    { tenantKind: 'veth', paMtu: 1500, fabricIfname: 'fab0', resyncMs: options.resyncMs ?? 3_600_000, firstTable: 1000 },
  );
  return { sut, firewall, datapath, kernelIntents };
}

/** A fresh store and service holding `config`, and a started reconciler on them. */
export async function startFakeReconciler(config: unknown, options: FakeReconcilerOptions = {}) {
  const store = new MemoryStore();
  const service = new ConfigService(store);
  service.putConfig(config, {});
  const started = fakeReconciler(service, store, options);
  await started.sut.start();
  return { ...started, service, store };
}
