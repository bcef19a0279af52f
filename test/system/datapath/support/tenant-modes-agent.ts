/**
 * Run inside a namespace that holds fab0 and the veth pairs nvgw-t<vsid>/nvgw-d<vsid> for
 * VSIDs 1..N: starts the data-path worker with datapath.sharedTenantPort = argv[2], then
 * for each count in argv[3] (comma-separated) asks for tenants 1..count and prints, one
 * JSON line per step, whether the worker serves them through the shared port and which
 * interfaces it holds.
 */
import { WorkerDatapath } from '../../../../src/datapath/engine.js';
import type { SharedTenantPortMode, TenantSpec } from '../../../../src/datapath/messages.js';
import { buildTables } from '../../../../src/datapath/tables.js';
import { DesiredState } from '../../../../src/model/desired-state.js';

const mode = process.argv[2] as SharedTenantPortMode;
const counts = (process.argv[3] ?? '').split(',').map(Number);
const specs = (n: number): TenantSpec[] => Array.from({ length: n }, (_, i) => ({ vsid: i + 1, ifname: `nvgw-d${i + 1}`, kind: 'veth' }));

const datapath = new WorkerDatapath({ sharedTenantPort: mode });
const { tables } = buildTables(DesiredState.fromDocument({}), 1, () => 0);
await datapath.start('fab0', [], tables, []);
for (const n of counts) {
  datapath.setTenants(specs(n));
  const deadline = Date.now() + 20_000;
  while (datapath.status().tenantPorts.length !== n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const status = datapath.status();
  console.log(JSON.stringify({ asked: n, shared: status.sharedTenantPort === true, ports: status.tenantPorts.length, errors: status.portErrors }));
}
await datapath.stop();
