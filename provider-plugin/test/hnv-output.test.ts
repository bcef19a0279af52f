/**
 * What `nvgwctl hnv` writes: Get-* output in PowerShell's Format-List layout (compared to
 * golden text), and `--export` scripts that run back into the same /v1/config.
 * NVGW_UPDATE_GOLDEN=1 rewrites the golden files from the current output.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import type { NvgwClient } from '../src/client/client.js';
import { NOUNS } from '../src/hnv/cmdlets.js';
import { formatList, hnvProperties } from '../src/hnv/format-list.js';
import type { TestGateway } from './support/gateway.js';
import { cliEnv, fixture, readFixture, runCli, sortedConfig, spawnCli, startTestGateway } from './support/gateway.js';

async function golden(name: string, actual: string): Promise<void> {
  if (process.env.NVGW_UPDATE_GOLDEN) await writeFile(fixture(name), actual);
  assert.equal(actual, await readFixture(name), `differs from fixtures/${name} (NVGW_UPDATE_GOLDEN=1 rewrites it)`);
}

const lookupRecords = NOUNS.find((n) => n.kind === 'lookupRecords')!;

describe('Format-List layout', () => {
  it('pads names to the longest, separates objects by a blank line, and frames them as Windows does', () => {
    const item = { customerAddress: '192.168.1.101', virtualSubnetId: 5001, macAddress: '00155d011404', providerAddress: '10.1.1.20', rule: 'TranslationMethodEncap', vmName: 'hv3-blue01', useVmMacAddress: false, context: '', customerId: '' } as const;
    const text = formatList([hnvProperties(lookupRecords, item), hnvProperties(lookupRecords, { ...item, customerAddress: '192.168.1.102', useVmMacAddress: true })]);
    const lines = text.split('\n');
    assert.deepEqual(lines.slice(0, 11), [
      '',
      'CustomerAddress : 192.168.1.101',
      'VirtualSubnetID : 5001',
      'MACAddress      : 00155d011404',
      'ProviderAddress : 10.1.1.20',
      'CustomerID      : ',
      'Context         : ',
      'Rule            : TranslationMethodEncap',
      'VMName          : hv3-blue01',
      'UseVmMACAddress : False',
      '',
    ]);
    assert.equal(lines[11], 'CustomerAddress : 192.168.1.102');
    assert.equal(lines[19], 'UseVmMACAddress : True');
    assert.ok(text.endsWith('UseVmMACAddress : True\n\n\n'));
    assert.equal(formatList([]), '');
  });
});

describe('Get-* output and export of a gateway', () => {
  let gateway: TestGateway;
  let env: Record<string, string>;
  let client: NvgwClient;

  before(async () => {
    gateway = await startTestGateway();
    env = cliEnv(gateway);
    client = gateway.client();
    const applied = await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    assert.equal(applied.code, 0, applied.stderr);
  });
  after(() => gateway.close());

  it('prints Get-* results in Format-List layout, exactly as the golden text', async () => {
    const result = await spawnCli(['hnv', fixture('get-policy.ps1')], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stderr, '', 'a script of Get- lines changes nothing and says nothing');
    await golden('get-policy.txt', result.stdout);
  });

  it('shows the InterfaceIndex the map file gives a gateway interface', async () => {
    const result = await runCli(['hnv', 'pa.ps1', '--map', 'map.json'], { env, files: { 'pa.ps1': 'Get-NetVirtualizationProviderAddress', 'map.json': '{"interfaces": {"12": "eth1"}}' } });
    assert.match(result.stdout, /\nInterfaceIndex {2}: 12\nInterfaceAlias {2}: eth1\n/);
  });

  it('prints -PassThru results of Remove- the same way', async () => {
    const result = await runCli(['hnv', 'rm.ps1', '--dry-run'], { env, files: { 'rm.ps1': 'Remove-NetVirtualizationLookupRecord -CustomerAddress 0.0.0.0 -PassThru' } });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^\nCustomerAddress : 0\.0\.0\.0\nVirtualSubnetID : 5002\n/);
  });

  it('exports the state as a script, exactly as the golden text', async () => {
    const result = await spawnCli(['hnv', '--export'], { env });
    assert.equal(result.code, 0, result.stderr);
    await golden('three-hosts.export.ps1', result.stdout);
  });

  it('round-trips: export, then import into an empty gateway, gives the same /v1/config', async () => {
    // Everything HNV cannot say by itself: names, customer IDs, a subnet without routes,
    // IPv6, NAT rules, VLANs, text that needs PowerShell escaping.
    const RED = '{22222222-2222-3333-4444-000000006001}';
    await client.routingDomains.create({ routingDomainId: RED, name: 'Red tenant', customerId: '{33333333-2222-3333-4444-000000006001}' });
    await client.virtualSubnets.create({ virtualSubnetId: 6001, routingDomainId: RED, name: 'web' });
    await client.virtualSubnets.create({ virtualSubnetId: 6002, routingDomainId: RED });
    await client.customerRoutes.create({ routingDomainId: RED, virtualSubnetId: 6001, destinationPrefix: '2001:db8:1::/64', metric: 10 });
    await client.lookupRecords.create({
      virtualSubnetId: 6001,
      customerAddress: '2001:db8:1::10',
      macAddress: '00155d020010',
      providerAddress: '10.1.1.20',
      rule: 'TranslationMethodNat',
      vmName: 'red-web01',
      useVmMacAddress: true,
      context: 'moved from "hv1" for $5 `now`',
      customerId: '{33333333-2222-3333-4444-000000006001}',
    });
    await client.providerAddresses.create({ interface: 'bond0.42', providerAddress: '10.42.0.40', prefixLength: 24, vlanId: 42 });
    await client.providerAddresses.create({ interface: 'eth2', providerAddress: '2001:db8:ffff::40', prefixLength: 64 });
    await client.providerRoutes.create({ interface: 'eth2', destinationPrefix: '2001:db8::/32', nextHop: '2001:db8:ffff::1', metric: 100 });
    const before = await client.getConfig();

    const exported = await runCli(['hnv', '--export'], { env });
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /^#nvgw: New-NvgwRoutingDomain -RoutingDomainID "\{22222222-2222-3333-4444-000000006001\}" -Name "Red tenant" -CustomerID "\{33333333-2222-3333-4444-000000006001\}"$/m);
    assert.match(exported.stdout, /-Context "moved from `"hv1`" for `\$5 ``now``"/);

    const fresh = await startTestGateway();
    try {
      const imported = await runCli(['hnv', 'export.ps1'], { env: cliEnv(fresh), files: { 'export.ps1': exported.stdout } });
      assert.equal(imported.code, 0, imported.stderr);
      assert.deepEqual(sortedConfig((await fresh.client().getConfig()).document), sortedConfig(before.document));
    } finally {
      await fresh.close();
    }

    const again = await runCli(['hnv', 'export.ps1'], { env, files: { 'export.ps1': exported.stdout } });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await client.getConfig()).etag, before.etag, 'importing a gateway\u2019s own export changes nothing');
  });

  it('writes -InterfaceIndex from the map file, and the same map reads it back', async () => {
    const map = JSON.stringify({ interfaces: { '12': 'eth1' } });
    const exported = await runCli(['hnv', '--export', '--map', 'map.json'], { env, files: { 'map.json': map } });
    assert.match(exported.stdout, /^New-NetVirtualizationProviderAddress -InterfaceIndex 12 -ProviderAddress "10\.1\.1\.40" -PrefixLength 24$/m);
    const fresh = await startTestGateway();
    try {
      const imported = await runCli(['hnv', 'export.ps1', '--map', 'map.json'], { env: cliEnv(fresh), files: { 'export.ps1': exported.stdout, 'map.json': map } });
      assert.equal(imported.code, 0, imported.stderr);
      assert.deepEqual(sortedConfig((await fresh.client().getConfig()).document), sortedConfig((await client.getConfig()).document));
    } finally {
      await fresh.close();
    }
  });
});
