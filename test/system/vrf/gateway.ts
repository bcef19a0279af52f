/**
 * The real `nvgw serve` in a lab namespace, for the VM suite. Unlike
 * test/support/gateway-ns.ts (a node process per API call, inside the namespace), the API
 * listens on a management veth whose other end is in the test's own namespace, so each call
 * is a plain fetch: under TCG a node start costs seconds.
 *
 *   gateway ns: mgmt0 172.31.255.2/30 ── <root-side veth> 172.31.255.1/30: the test process
 *
 * mgmt0 does not start with "nvgw", so the gateway never treats it as its own. The veth pair
 * goes away with the gateway's namespace.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BackgroundProcess, Lab } from '../../support/netns.js';
import { repoRoot } from '../../support/paths.js';

export interface VmGateway {
  readonly ns: string;
  readonly process: BackgroundProcess;
  /** Fails the test on a non-2xx answer. */
  ok<T = unknown>(method: string, path: string, body?: unknown): Promise<T>;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
}

const API_ADDRESS = '172.31.255.2';
const CLIENT_ADDRESS = '172.31.255.1';
const PORT = 8470;

export async function startVmGateway(lab: Lab, ns: string, options: { fabricIfname: string }): Promise<VmGateway> {
  const rootEnd = `vmgw${process.pid.toString(36)}`.slice(0, 15);
  await lab.exec(undefined, ['ip', '-batch', '-'], {
    input: [`link add ${rootEnd} type veth peer name mgmt0 netns ${ns}`, `addr add ${CLIENT_ADDRESS}/30 dev ${rootEnd}`, `link set ${rootEnd} up`, ''].join('\n'),
  });
  lab.defer(() => lab.exec(undefined, ['ip', 'link', 'del', rootEnd]).then(() => undefined, () => undefined));
  await lab.exec(undefined, ['ip', '-n', ns, '-batch', '-'], { input: [`addr add ${API_ADDRESS}/30 dev mgmt0`, 'link set mgmt0 up', ''].join('\n') });

  const tokenFile = join(lab.tmpDir, 'api-token');
  const configFile = join(lab.tmpDir, 'nvgw.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      api: { host: API_ADDRESS, port: PORT, tokenFile },
      state: { path: join(lab.tmpDir, 'state.db') },
      log: { level: 'info' },
      // No periodic resync during a test: each full pass (netlink dumps, iptables-save and
      // -restore) costs seconds of a TCG guest's CPU, and every change triggers its own pass.
      // routeBetweenVsids off: this tier proves the kernel's VRFs route between the VSIDs of a
      // domain; the data path's own routing does not depend on the backend and is proven in
      // the namespace tier (test/system/datapath).
      datapath: { fabricInterface: options.fabricIfname, resyncSeconds: 3600, routeBetweenVsids: false },
    }),
  );
  const child = lab.spawn(ns, [process.execPath, join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', configFile]);
  // Under TCG the gateway takes tens of seconds to load.
  await child.waitForOutput(/provider API listening/, 180_000);
  const token = readFileSync(tokenFile, 'utf8').trim();

  const call = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`http://${API_ADDRESS}:${PORT}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Prometheus text and the like stay strings.
    }
    return { status: response.status, body: parsed };
  };
  return {
    ns,
    process: child,
    call,
    async ok<T>(method: string, path: string, body?: unknown): Promise<T> {
      const response = await call(method, path, body);
      if (response.status < 200 || response.status > 299) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
      return response.body as T;
    },
  };
}
