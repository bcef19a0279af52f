/**
 * `nvgw lab up | status | check | down`: the HNV example in network namespaces on this
 * machine (topology.ts), with nvgw as the gateway, Open vSwitch userspace hosts as the NVGRE
 * peers, and the configuration pushed through the provider API by `nvgwctl hnv`.
 *
 * The lab outlives the command that built it, so everything `up` creates is recorded in the
 * state file (state.ts) as it goes, and `down` removes exactly that: its processes by PID,
 * its namespaces by name (which takes their links and iptables rules with them).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PersistentLab } from './netns.js';
import { createPersistentLab, runIn, sweepStale } from './netns.js';
import type { OvsHost } from './ovs-host.js';
import { createOvsHost } from './ovs-host.js';
import type { LabSettings, LabState } from './state.js';
import { readState, writeState } from './state.js';
import { API_PORT, FABRIC_IF, GW_PA, HOST_PA, INET, PORT_FORWARD, ROLES, TUNNELS, UPLINK_IF, VMS, labPolicyScript, natResources } from './topology.js';

type Out = (line: string) => void;

function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'bin', 'nvgw.js')) && existsSync(join(dir, 'package.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error('nvgw lab: cannot find the nvgw installation (bin/nvgw.js)');
    dir = parent;
  }
}

const repoRoot = findRepoRoot();
const nsName = (s: LabSettings, role: string): string => `${s.prefix}-${role}`;

/**
 * Running, and not a zombie: the lab's daemons are re-parented when `up` exits, and a PID 1
 * that never reaps (as in many containers) keeps a dead one as a zombie.
 */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function existingNamespaces(): Set<string> {
  const r = spawnSync('ip', ['-j', 'netns', 'list'], { encoding: 'utf8' });
  if (r.status !== 0 || r.stdout.trim() === '') return new Set();
  return new Set((JSON.parse(r.stdout) as Array<{ name: string }>).map((e) => e.name));
}

interface ApiAnswer<T> {
  status: number;
  body: T;
}

/** The gateway's API listens on its namespace's loopback: ask from inside (ns-fetch.ts). */
async function api<T = unknown>(state: LabState, method: string, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const gw = state.gateway;
  if (!gw) throw new Error('the lab has no gateway');
  const args = [process.execPath, join(repoRoot, 'dist', 'src', 'lab', 'ns-fetch.js'), method, `http://127.0.0.1:${gw.port}${path}`, gw.tokenFile];
  if (body !== undefined) {
    const file = join(state.dir, 'request.json');
    writeFileSync(file, JSON.stringify(body));
    args.push(file);
  }
  const { stdout } = await runIn(gw.ns, args, { timeoutMs: 15_000 });
  return JSON.parse(stdout) as ApiAnswer<T>;
}

async function apiOk<T = unknown>(state: LabState, method: string, path: string, body?: unknown): Promise<T> {
  const r = await api<T>(state, method, path, body);
  if (r.status < 200 || r.status > 299) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Whether this build serves issue 5's NAT resources (the lab must not assume it). */
async function natAvailable(state: LabState): Promise<boolean> {
  const spec = await apiOk<{ paths?: Record<string, unknown> }>(state, 'GET', '/v1/openapi.json');
  const paths = Object.keys(spec.paths ?? {});
  return paths.includes('/v1/external-networks') && paths.includes('/v1/nat-connections');
}

/** What is wrong with a recorded lab, or [] when every namespace and process is there. */
function problems(state: LabState): string[] {
  const found: string[] = [];
  if (state.phase !== 'up') found.push(`left in phase ${state.phase}`);
  const present = existingNamespaces();
  for (const ns of state.namespaces) if (!present.has(ns)) found.push(`namespace ${ns} is missing`);
  if (!state.gateway || !alive(state.gateway.pid)) found.push('the gateway is not running');
  for (const pid of state.ovsPids) if (!alive(pid)) found.push(`OVS daemon ${pid} is not running`);
  return found;
}

/** `nvgw lab up`: builds the lab, or reports the running one, or rebuilds a broken one. */
export async function labUp(settings: LabSettings, out: Out): Promise<number> {
  const existing = readState(settings);
  if (existing) {
    const wrong = problems(existing);
    if (wrong.length === 0) {
      out(`lab ${settings.prefix} is already up (since ${existing.createdAt}); \`nvgw lab check\` tests it, \`nvgw lab down\` removes it`);
      return 0;
    }
    out(`lab ${settings.prefix} is broken (${wrong.join('; ')}): removing it and building it again`);
  }
  // Also clears namespaces of this prefix that a crash left without a state file.
  await labDown(settings, () => undefined);
  const started = Date.now();
  const lab = createPersistentLab(settings.prefix, settings.dir);
  const state: LabState = {
    prefix: settings.prefix, dir: settings.dir, createdAt: new Date().toISOString(), phase: 'building',
    namespaces: [], gateway: undefined, ovsPids: [], nat: undefined,
  };
  const save = (): void => {
    state.namespaces = [...lab.namespaces];
    state.ovsPids = lab.pids().filter((pid) => pid !== state.gateway?.pid);
    writeState(settings, state);
  };
  try {
    await build(lab, settings, state, save, out);
    state.phase = 'up';
    save();
  } catch (e) {
    save();
    out(`lab up failed; removing what was built (logs were in ${settings.dir}/log)`);
    await labDown(settings, () => undefined);
    throw e;
  }
  out(`lab ${settings.prefix} is up in ${((Date.now() - started) / 1000).toFixed(1)} s; state in ${settings.dir}/state.json`);
  return 0;
}

async function build(lab: PersistentLab, settings: LabSettings, state: LabState, save: () => void, out: Out): Promise<void> {
  out('building namespaces: fabric, gateway, Internet host');
  const fabric = await lab.namespace('fabric');
  save();
  await lab.bridge(fabric, 'br0');
  const gwNs = await lab.namespace('gw');
  save();
  await lab.veth({ ns: gwNs, ifname: FABRIC_IF }, { ns: fabric, ifname: 'p-gw', master: 'br0' });
  const inet = await lab.namespace('inet');
  save();
  // The uplink carries no address yet: the gateway's address on it is the external network
  // resource's to add. The Internet host has no route towards any CA, so only NAT can answer it.
  await lab.veth({ ns: gwNs, ifname: UPLINK_IF }, { ns: inet, ifname: 'eth0', addresses: [`${INET.address}/${INET.prefixLength}`] });

  out('starting nvgw in the gateway namespace');
  const tokenFile = join(settings.dir, 'api-token');
  const configFile = join(settings.dir, 'nvgw.json');
  writeFileSync(configFile, JSON.stringify({
    api: { port: API_PORT, tokenFile },
    state: { path: join(settings.dir, 'state.db') },
    log: { level: 'info' },
    datapath: { fabricInterface: FABRIC_IF, tenantInterfaceKind: 'veth', resyncSeconds: 5 },
  }, null, 2));
  const gateway = lab.spawn(gwNs, [process.execPath, join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', configFile]);
  state.gateway = { ns: gwNs, pid: gateway.pid, port: API_PORT, tokenFile, configFile };
  save();
  await gateway.waitForOutput(/provider API listening/, 30_000);

  out('configuring nvgw through its provider API: nvgwctl hnv lab-policy.ps1');
  const script = join(settings.dir, 'lab-policy.ps1');
  writeFileSync(script, labPolicyScript());
  const nvgwctl = join(repoRoot, 'provider-plugin', 'bin', 'nvgwctl.js');
  const applied = await runIn(gwNs, [process.execPath, nvgwctl, 'hnv', script, '--url', `http://127.0.0.1:${API_PORT}`, '--token-file', tokenFile, '--interface', FABRIC_IF]);
  for (const line of applied.stdout.trim().split('\n').filter(Boolean).slice(-3)) out(`  ${line}`);

  state.nat = await natAvailable(state);
  if (state.nat) {
    out('configuring NAT: external network up0 and a NAT connection with a port forward');
    const nat = natResources();
    await apiOk(state, 'PUT', `/v1/external-networks/${UPLINK_IF}`, nat.externalNetwork);
    await apiOk(state, 'PUT', `/v1/nat-connections/${encodeURIComponent(nat.natConnection.routingDomainId)}`, nat.natConnection);
  } else {
    out('NAT: not in this build (no /v1/external-networks); the NAT rows of `check` will be skipped');
  }

  out('starting three Open vSwitch NVGRE hosts and their VMs');
  const hosts: OvsHost[] = [];
  for (const host of Object.keys(HOST_PA) as Array<keyof typeof HOST_PA>) {
    hosts.push(await createOvsHost(lab, {
      name: host, pa: HOST_PA[host], paPrefixLength: 24, fabric: { ns: fabric, bridge: 'br0' },
      vms: VMS.filter((vm) => vm.host === host).map((vm) => ({ name: vm.name, ip: vm.ip, prefixLength: 24, mac: vm.mac, vsid: vm.vsid, gateway: vm.gateway })),
      tunnels: TUNNELS[host],
    }));
    save();
  }
  // OVS drops the first packet towards a PA it has not resolved yet (ovs-host.ts).
  for (const host of hosts) await host.resolvePeers();
}

async function stopPid(pid: number, graceMs: number): Promise<void> {
  if (!alive(pid)) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (alive(pid)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}

/** `nvgw lab down`: removes the lab's processes (by PID), namespaces (by name) and state. Idempotent. */
export async function labDown(settings: LabSettings, out: Out): Promise<number> {
  const state = readState(settings);
  // The state file names what was made; the fixed role names also catch a lab whose `up`
  // died before it could write one.
  const names = new Set([...(state?.namespaces ?? []), ...ROLES.map((role) => nsName(settings, role))]);
  const present = existingNamespaces();
  const ours = [...names].filter((ns) => present.has(ns));
  // The gateway first, so it stops using its interfaces before the OVS hosts go.
  if (state?.gateway) await stopPid(state.gateway.pid, 5000);
  await Promise.all((state?.ovsPids ?? []).map((pid) => stopPid(pid, 3000)));
  // Anything still inside the lab's own namespaces was started there for the lab.
  for (const ns of ours) {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' });
    for (const pid of r.stdout.split(/\s+/).filter(Boolean).map(Number)) {
      if (pid > 1 && pid !== process.pid) await stopPid(pid, 1000);
    }
  }
  // Deleting a namespace takes its links, routes and iptables rules with it.
  for (const ns of [...ours].reverse()) spawnSync('ip', ['netns', 'del', ns]);
  await sweepStale(settings.prefix);
  rmSync(settings.dir, { recursive: true, force: true });
  out(ours.length === 0 && !state ? `lab ${settings.prefix}: nothing to remove` : `lab ${settings.prefix} removed: ${ours.length} namespaces`);
  return 0;
}

/** `nvgw lab status`: namespaces, processes, and the gateway's own /v1/status. */
export async function labStatus(settings: LabSettings, out: Out): Promise<number> {
  const state = readState(settings);
  if (!state) {
    out(`lab ${settings.prefix} is not up (no ${settings.dir}/state.json); \`nvgw lab up\` builds it`);
    return 1;
  }
  const present = existingNamespaces();
  out(`lab ${state.prefix} (${state.phase}, since ${state.createdAt})`);
  out(`namespaces: ${state.namespaces.map((ns) => `${ns}${present.has(ns) ? '' : ' (MISSING)'}`).join(' ')}`);
  const proc = (pid: number, what: string): string => `  ${String(pid).padStart(7)} ${alive(pid) ? 'running' : 'DEAD   '} ${what}`;
  out('processes:');
  if (state.gateway) out(proc(state.gateway.pid, `nvgw serve (in ${state.gateway.ns}, API 127.0.0.1:${state.gateway.port} there, token ${state.gateway.tokenFile})`));
  for (const pid of state.ovsPids) {
    let cmd = '?';
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '?';
    } catch {
      // dead
    }
    out(proc(pid, cmd));
  }
  const wrong = problems(state);
  if (state.gateway && alive(state.gateway.pid)) {
    const { body } = await api<{ version?: string; uptimeSeconds?: number; backend?: string; counts?: Record<string, number>; datapath?: { state?: string; tenantPorts?: string[] } }>(state, 'GET', '/v1/status');
    out(`gateway /v1/status: version ${body.version ?? '?'}, up ${body.uptimeSeconds ?? '?'} s, backend ${body.backend ?? '?'}, data path ${body.datapath?.state ?? '?'} (tenant ports ${(body.datapath?.tenantPorts ?? []).join(' ')})`);
    out(`  ${Object.entries(body.counts ?? {}).map(([k, v]) => `${k} ${v}`).join(', ')}`);
  }
  out(`NAT: ${state.nat ? 'configured' : 'not in this build'}`);
  if (wrong.length > 0) out(`PROBLEMS: ${wrong.join('; ')} (\`nvgw lab up\` repairs)`);
  return wrong.length === 0 ? 0 : 1;
}

interface Row {
  check: string;
  from: string;
  to: string;
  expect: 'reach' | 'blocked';
  result: 'pass' | 'FAIL' | 'skipped';
  detail: string;
}

interface Stats {
  drops: Record<string, { packets: number }>;
  vsids: Array<{ virtualSubnetId: number; decapPackets: number; encapPackets: number; dropPackets: number }>;
}

function table(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(headers), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)];
}

/** A TCP client in ns; resolves with what the server sent, or '' when nothing came. */
async function tcpFetch(ns: string, host: string, port: number): Promise<string> {
  const code = `const s=require('net').connect(${port},'${host}');let d='';s.setTimeout(3000,()=>process.exit(2));s.on('data',(b)=>{d+=b});s.on('end',()=>{process.stdout.write(d);process.exit(0)});s.on('error',()=>process.exit(1));`;
  try {
    return (await runIn(ns, [process.execPath, '-e', code], { timeoutMs: 10_000 })).stdout;
  } catch {
    return '';
  }
}

/** `nvgw lab check`: the connectivity matrix and the gateway's counters; 0 only if every row meets its expectation. */
export async function labCheck(settings: LabSettings, out: Out): Promise<number> {
  const state = readState(settings);
  if (!state) {
    out(`lab ${settings.prefix} is not up; run \`nvgw lab up\` first`);
    return 1;
  }
  const wrong = problems(state);
  if (wrong.length > 0) {
    out(`lab ${settings.prefix} is broken: ${wrong.join('; ')} (\`nvgw lab up\` repairs)`);
    return 1;
  }
  const lab = createPersistentLab(settings.prefix, settings.dir);
  const ns = (role: string): string => nsName(settings, role);
  const rows: Row[] = [];
  const ping = async (check: string, from: string, to: string, dst: string, expect: Row['expect']): Promise<void> => {
    // Five tries: the first packet towards an unresolved PA is dropped by OVS by design.
    const r = await lab.ping(ns(from), dst, expect === 'reach' ? { count: 5, interval: 0.2, waitSeconds: 1 } : { count: 3, interval: 0.2, waitSeconds: 1 });
    const ok = expect === 'reach' ? r.received >= 3 : r.received === 0 && r.transmitted > 0;
    rows.push({ check, from, to: `${to} ${dst}`, expect, result: ok ? 'pass' : 'FAIL', detail: `ping ${r.received}/${r.transmitted}${r.avgRttMs !== undefined ? ` ${r.avgRttMs.toFixed(2)} ms` : ''}` });
  };
  const before = await apiOk<Stats>(state, 'GET', '/v1/stats');
  await ping('VM <-> VM, VSID 5001 across hosts', 'blue01', 'hv3-blue02', '192.168.1.102', 'reach');
  await ping('VM <-> VM, VSID 5001 across hosts', 'blue02', 'hv3-blue01', '192.168.1.101', 'reach');
  await ping('VM <-> gateway CA (5001)', 'blue01', 'nvgw', '192.168.1.1', 'reach');
  await ping('VM <-> gateway CA (5002)', 'blue03', 'nvgw', '192.168.2.250', 'reach');
  await ping('VM 5001 -> VM 5002, routed by nvgw', 'blue01', 'blue03', '192.168.2.101', 'reach');
  await ping('VM 5002 -> VM 5001, routed by nvgw', 'blue03', 'hv3-blue02', '192.168.1.102', 'reach');
  await ping('red tenant <-> its gateway CA', 'red01', 'nvgw (red)', '192.168.1.1', 'reach');
  await ping('tenant <-> other tenant (must fail)', 'red01', 'blue03', '192.168.2.101', 'blocked');
  await ping('tenant <-> other tenant (must fail)', 'red01', 'blue gw CA', '192.168.2.250', 'blocked');
  await ping('tenant -> gateway PA (must fail)', 'red01', 'nvgw PA', GW_PA, 'blocked');
  if (state.nat) {
    await ping('VM -> Internet through NAT', 'blue01', 'inet', INET.address, 'reach');
    const server = spawn('ip', ['netns', 'exec', ns('blue01'), process.execPath, '-e',
      `require('net').createServer((s)=>s.end('hello from hv3-blue01\\n')).listen(${PORT_FORWARD.internalPort},()=>console.log('listening'))`], { stdio: ['ignore', 'pipe', 'ignore'] });
    await new Promise<void>((resolve) => {
      server.stdout.once('data', () => resolve());
      setTimeout(resolve, 3000);
    });
    const got = await tcpFetch(ns('inet'), INET.gatewayAddress, PORT_FORWARD.externalPort);
    server.kill('SIGKILL');
    rows.push({
      check: 'port forward in (TCP)', from: 'inet', to: `${INET.gatewayAddress}:${PORT_FORWARD.externalPort} -> ${PORT_FORWARD.internalAddress}:${PORT_FORWARD.internalPort}`,
      expect: 'reach', result: got.includes('hello from hv3-blue01') ? 'pass' : 'FAIL', detail: got.trim() || 'no answer',
    });
  } else {
    rows.push({ check: 'VM -> Internet through NAT', from: 'blue01', to: `inet ${INET.address}`, expect: 'reach', result: 'skipped', detail: 'skipped: NAT not in this build' });
    rows.push({ check: 'port forward in (TCP)', from: 'inet', to: `${INET.gatewayAddress}:${PORT_FORWARD.externalPort}`, expect: 'reach', result: 'skipped', detail: 'skipped: NAT not in this build' });
  }
  const after = await apiOk<Stats>(state, 'GET', '/v1/stats');

  out(`nvgw lab check (${settings.prefix})`);
  for (const line of table(['check', 'from', 'to', 'expect', 'result', 'detail'], rows.map((r) => [r.check, r.from, r.to, r.expect, r.result, r.detail]))) out(line);
  out('');
  out('gateway counters (GET /v1/stats), change during the check:');
  const vsidBefore = new Map(before.vsids.map((v) => [v.virtualSubnetId, v]));
  out(table(['VSID', 'decap packets', 'encap packets', 'drop packets'], after.vsids.map((v) => {
    const b = vsidBefore.get(v.virtualSubnetId);
    return [String(v.virtualSubnetId), `+${v.decapPackets - (b?.decapPackets ?? 0)}`, `+${v.encapPackets - (b?.encapPackets ?? 0)}`, `+${v.dropPackets - (b?.dropPackets ?? 0)}`];
  })).join('\n'));
  const drops = Object.entries(after.drops)
    .map(([reason, v]) => [reason, v.packets, v.packets - (before.drops[reason]?.packets ?? 0)] as const)
    .filter(([, total]) => total > 0);
  out(drops.length === 0 ? 'drops: none' : `drops by reason (total, +during check): ${drops.map(([r, t, d]) => `${r}=${t} (+${d})`).join(', ')}`);
  const failed = rows.filter((r) => r.result === 'FAIL').length;
  const skipped = rows.filter((r) => r.result === 'skipped').length;
  out(`${rows.length - failed - skipped} passed, ${failed} failed, ${skipped} skipped`);
  return failed === 0 ? 0 : 1;
}
