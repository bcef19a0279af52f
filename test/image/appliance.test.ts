/**
 * The appliance image, end to end: image/build makes the qcow2, qemu boots it (TCG: 2 vCPUs,
 * 1.5 GB) with a cidata seed, and the provider API, reached through a loopback-only
 * forwarded port with the seeded token, takes a routing domain whose VSID gets a VRF in the
 * guest. Prints the build and boot times and the guest's `ip -d link show type vrf`.
 *
 * Root only (mmdebstrap). Under CI it never skips (scripts/test runs it as its own step).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { repoRoot } from '../support/paths.js';
import type { Appliance } from './appliance.js';
import { bootAppliance, freeLoopbackPort } from './appliance.js';
import { GuestAgent } from './guest-agent.js';
import type { GuestExecResult } from './guest-agent.js';

const IMAGE_DIR = process.env.NVGW_IMAGE_OUT ?? '/var/cache/nvgw-image/out';
const GUEST_API_PORT = 8470;
const BUILD_TIMEOUT_MS = 15 * 60_000;
const BOOT_TIMEOUT_MS = 10 * 60_000;
const RD = '{11111111-2222-3333-4444-000000005002}';

const isRoot = process.getuid?.() === 0;
if (!isRoot && process.env.CI) throw new Error('test/image needs root and CI is set: refusing to skip');

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function buildImage(): Promise<void> {
  const child = spawn('bash', [join(repoRoot, 'image', 'build'), '--out', IMAGE_DIR], { stdio: ['ignore', 'inherit', 'inherit'] });
  const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGTERM'), BUILD_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  assert.equal(code, 0, 'image/build failed');
}

function consoleTail(vm: Appliance | undefined, lines = 60): string {
  if (!vm || !existsSync(vm.consolePath)) return '(no console output)';
  return readFileSync(vm.consolePath, 'utf8').split('\n').slice(-lines).join('\n');
}

interface Status {
  backend: string;
  datapath: { state: string; reconcile?: { passes: number; lastPass?: { failed: unknown[] } } };
}

/** The desired state a controller would push: one domain, one VSID, the gateway's record. */
function gatewayConfig(): unknown {
  return {
    routingDomains: [{ routingDomainId: RD, name: 'image-test', customerId: '' }],
    virtualSubnets: [{ virtualSubnetId: 5002, routingDomainId: RD, name: 'image-test-5002' }],
    customerRoutes: [{ routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0', metric: 256 }],
    providerAddresses: [{ interface: 'eth0', providerAddress: '10.0.2.100', prefixLength: 24, vlanId: 0 }],
    providerRoutes: [],
    lookupRecords: [
      { customerAddress: '192.168.2.250', virtualSubnetId: 5002, macAddress: '00155D143C02', providerAddress: '10.0.2.100', rule: 'TranslationMethodEncap', vmName: 'gateway', useVmMacAddress: false, context: '', customerId: '' },
      { customerAddress: '192.168.2.10', virtualSubnetId: 5002, macAddress: '00155D011404', providerAddress: '10.0.2.20', rule: 'TranslationMethodEncap', vmName: 'blue01', useVmMacAddress: false, context: '', customerId: '' },
    ],
  };
}

describe('the appliance image (qcow2, qemu TCG)', { skip: !isRoot && 'needs root (mmdebstrap)' }, () => {
  const token = randomBytes(24).toString('hex');
  let work = '';
  let vm: Appliance | undefined;
  let agent: GuestAgent | undefined;
  let api = '';
  const times: Record<string, number> = {};

  const call = async (method: string, path: string, body?: unknown): Promise<Response> =>
    fetch(`${api}${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(60_000),
    });

  before(async () => {
    work = mkdtempSync(join(tmpdir(), 'nvgw-image-test-'));
    const t0 = Date.now();
    await buildImage();
    times.build = Date.now() - t0;
    console.log(`image test: build ${seconds(times.build)}`);
  });

  after(async () => {
    agent?.close();
    await vm?.stop();
    if (work !== '') rmSync(work, { recursive: true, force: true });
    console.log(`image test: times: ${Object.entries(times).map(([k, v]) => `${k} ${seconds(v)}`).join(', ')}`);
  });

  it('boots and serves the provider API on the forwarded loopback port with the seeded token', async () => {
    const port = await freeLoopbackPort();
    api = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    vm = bootAppliance({
      imageDir: IMAGE_DIR,
      workDir: work,
      seed: { apiAddress: `0.0.0.0:${GUEST_API_PORT}`, apiToken: token, paInterface: 'eth0', hostname: 'nvgw-test' },
      hostApiPort: port,
      guestApiPort: GUEST_API_PORT,
      cpus: 2,
      memoryMb: 1536,
    });
    let exited = false;
    void vm.exited.then(() => (exited = true));
    for (;;) {
      assert.ok(!exited, `qemu exited during boot; console:\n${consoleTail(vm)}`);
      assert.ok(Date.now() - t0 < BOOT_TIMEOUT_MS, `the API did not answer within ${seconds(BOOT_TIMEOUT_MS)}; console:\n${consoleTail(vm)}`);
      try {
        const res = await fetch(`${api}/readyz`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
        if (res.ok) break;
      } catch {
        // not up yet: slirp accepts and drops until the guest listens
      }
      await sleep(2000);
    }
    times.boot = Date.now() - t0;
    console.log(`image test: boot to a ready API ${seconds(times.boot)}`);
    const unauthorised = await fetch(`${api}/v1/status`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(unauthorised.status, 401, 'the API must refuse a request without the token');
    const status = (await (await call('GET', '/v1/status')).json()) as { backend: string };
    console.log(`image test: /v1/status before any config: ${JSON.stringify(status)}`);
    assert.equal(status.backend, 'vrf', 'the image kernel has VRF: the adapter must pick it');
  });

  it('takes a routing domain through PUT /v1/config and makes its VRF in the guest', async () => {
    assert.ok(vm, 'the appliance did not boot');
    const initial = (await (await call('GET', '/v1/status')).json()) as Status;
    const t0 = Date.now();
    const put = await call('PUT', '/v1/config', gatewayConfig());
    assert.equal(put.status, 200, await put.text());
    let status = initial;
    agent = await GuestAgent.connect(vm.agentSocket, 120_000);
    let listing = '';
    // Done when the VRF is there and a whole reconcile pass ran after the PUT without a failure.
    for (;;) {
      status = (await (await call('GET', '/v1/status')).json()) as Status;
      const ip: GuestExecResult = await agent.exec(['/usr/sbin/ip', '-d', 'link', 'show', 'type', 'vrf']);
      assert.equal(ip.exitCode, 0, ip.stderr);
      listing = ip.stdout;
      const reconcile = status.datapath.reconcile;
      if (/\bvrf table \d+/.test(listing) && reconcile && reconcile.passes > (initial.datapath.reconcile?.passes ?? 0)) {
        assert.deepEqual(reconcile.lastPass?.failed, [], `reconcile failures: ${JSON.stringify(reconcile.lastPass)}`);
        break;
      }
      assert.ok(Date.now() - t0 < 120_000, `no VRF and reconcile pass in the guest 120 s after PUT /v1/config; status ${JSON.stringify(status)}; console:\n${consoleTail(vm)}`);
      await sleep(2000);
    }
    times.vrf = Date.now() - t0;
    console.log(`image test: /v1/status: ${JSON.stringify(status)}`);
    console.log(`image test: guest's ip -d link show type vrf:\n${listing}`);
    assert.equal(status.backend, 'vrf');
    const tenant = await agent.exec(['/usr/sbin/ip', '-br', 'link', 'show', 'master', listing.split(':')[1]!.trim().split('@')[0]!]);
    console.log(`image test: links in that VRF:\n${tenant.stdout}`);
    assert.match(tenant.stdout, /nvgw/, 'the VSID tenant interface is enslaved to the VRF');
    const svc = await agent.exec(['/usr/bin/systemctl', 'show', 'nvgw.service', '-p', 'User', '-p', 'AmbientCapabilities', '-p', 'ActiveState']);
    console.log(`image test: nvgw.service: ${svc.stdout.trim().replace(/\n/g, '; ')}`);
    assert.match(svc.stdout, /User=nvgw/);
    assert.match(svc.stdout, /AmbientCapabilities=.*cap_bpf/, 'the data path may load its eBPF filters');
    // iptables-restore ran as the nvgw user with the two ambient capabilities.
    const rules = await agent.exec(['/usr/sbin/iptables-save']);
    const chains = [...new Set(rules.stdout.match(/^:NVGW-[A-Z-]+/gm) ?? [])];
    console.log(`image test: nvgw's iptables chains: ${chains.join(' ')}`);
    assert.ok(chains.length > 0, `no NVGW-* chains in the guest:\n${rules.stdout}${rules.stderr}`);
  });
});
