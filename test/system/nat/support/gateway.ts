/**
 * `nvgw serve` in a lab namespace for the NAT tests: like test/support/gateway-ns.ts, plus a
 * short resync period and an iptables-restore the test can make fail once. The wrapper sits
 * first in the gateway's PATH and hands everything to the real binary, except the first
 * non-test restore after `failNextRestore()`, which it refuses without applying anything.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiResponse } from '../../../support/gateway-ns.js';
import type { BackgroundProcess, Lab } from '../../../support/netns.js';
import { repoRoot } from '../../../support/paths.js';

export interface NatGateway {
  readonly ns: string;
  readonly process: BackgroundProcess;
  call<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  ok<T = unknown>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>>;
  /** The next real iptables-restore of the gateway fails (exit 1, nothing applied). */
  failNextRestore(): void;
  /** Whether that failure has happened yet. */
  restoreFailed(): boolean;
}

let calls = 0;

export async function startNatGateway(lab: Lab, ns: string, options: { fabricIfname: string; resyncSeconds: number }): Promise<NatGateway> {
  const dir = join(lab.tmpDir, `natgw-${ns}`);
  const bin = join(dir, 'bin');
  mkdirSync(bin, { recursive: true });
  const flag = join(dir, 'fail-next-restore');
  const wrapper = join(bin, 'iptables-restore');
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      `if [ -e '${flag}' ] && [ "$1" != "--test" ]; then`,
      `  rm -f '${flag}'; cat >/dev/null`,
      '  echo "iptables-restore: nvgw test refuses this restore" >&2; exit 1',
      'fi',
      'exec /usr/sbin/iptables-restore "$@"',
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  const configFile = join(dir, 'nvgw.json');
  const tokenFile = join(dir, 'token');
  writeFileSync(
    configFile,
    JSON.stringify({
      api: { port: 8470, tokenFile },
      state: { path: join(dir, 'state.db') },
      log: { level: 'info' },
      datapath: { fabricInterface: options.fabricIfname, tenantInterfaceKind: 'veth', resyncSeconds: options.resyncSeconds },
    }),
  );
  const child = lab.spawn(ns, [process.execPath, join(repoRoot, 'bin', 'nvgw.js'), 'serve', '--config', configFile], {
    env: { PATH: `${bin}:${process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin'}` },
  });
  await child.waitForOutput(/provider API listening/, 30_000);
  const fetcher = join(repoRoot, 'dist', 'test', 'support', 'ns-fetch.js');
  const call = async <T>(method: string, path: string, body?: unknown): Promise<ApiResponse<T>> => {
    const args = [process.execPath, fetcher, method, `http://127.0.0.1:8470${path}`, tokenFile];
    if (body !== undefined) {
      const bodyFile = join(dir, `body-${calls++}.json`);
      writeFileSync(bodyFile, JSON.stringify(body));
      args.push(bodyFile);
    }
    return JSON.parse((await lab.exec(ns, args)).stdout) as ApiResponse<T>;
  };
  return {
    ns,
    process: child,
    call,
    async ok<T>(method: string, path: string, body?: unknown) {
      const response = await call<T>(method, path, body);
      if (response.status < 200 || response.status > 299) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(response.body)}`);
      return response;
    },
    failNextRestore() {
      writeFileSync(flag, '');
    },
    restoreFailed() {
      return !existsSync(flag);
    },
  };
}
