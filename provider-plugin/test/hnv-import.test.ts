/**
 * `nvgwctl hnv` on scripts written the way administrators write them (fixtures/*.ps1),
 * against a real gateway: what is applied, what is skipped, what is noted, and the exact
 * line and column of every error, after which nothing at all is applied.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import type { ConfigDocument } from '../src/client/types.js';
import { runHnvScript } from '../src/hnv/run.js';
import type { TestGateway } from './support/gateway.js';
import { cliEnv, fixture, readFixture, runCli, sortedConfig, spawnCli, startTestGateway } from './support/gateway.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

/** What the classic three-host, two-VSID example leaves on the gateway. */
const CLASSIC: ConfigDocument = {
  routingDomains: [{ routingDomainId: RD, name: '', customerId: '' }],
  virtualSubnets: [
    { virtualSubnetId: 5001, routingDomainId: RD, name: '' },
    { virtualSubnetId: 5002, routingDomainId: RD, name: '' },
  ],
  customerRoutes: [
    { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', nextHop: '0.0.0.0', metric: 255 },
    { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', nextHop: '0.0.0.0', metric: 255 },
    { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '0.0.0.0/0', nextHop: '192.168.2.250', metric: 255 },
    { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '0.0.0.0/0', nextHop: '192.168.2.250', metric: 255 },
  ],
  lookupRecords: [
    record('192.168.1.101', 5001, '00155d011404', '10.1.1.20', 'hv3-blue01'),
    record('192.168.1.102', 5001, '00155d011e04', '10.1.1.30', 'hv3-blue02'),
    record('192.168.2.250', 5002, '00155d143c02', '10.1.1.40', 'hnv-gateway'),
    record('0.0.0.0', 5002, '00155d143c02', '10.1.1.40', 'hnv-gateway-wildcard'),
  ],
  providerAddresses: [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24, vlanId: 0 }],
  providerRoutes: [{ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1', metric: 256 }],
  providerPeers: [],
};

function record(customerAddress: string, virtualSubnetId: number, macAddress: string, providerAddress: string, vmName: string) {
  return { customerAddress, virtualSubnetId, macAddress, providerAddress, rule: 'TranslationMethodEncap' as const, vmName, useVmMacAddress: false, context: '', customerId: '' };
}

describe('nvgwctl hnv', () => {
  let gateway: TestGateway;
  let env: Record<string, string>;

  beforeEach(async () => {
    gateway = await startTestGateway();
    env = cliEnv(gateway);
  });
  afterEach(() => gateway.close());

  const config = async () => (await gateway.client().getConfig()).document;
  const etag = async () => (await gateway.client().getConfig()).etag;

  it('applies the three-host, two-VSID script with its wildcard record once, in one revision', async () => {
    const result = await spawnCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(sortedConfig(await config()), sortedConfig(CLASSIC));
    assert.equal(await etag(), '"1"', 'the whole script is one PUT /v1/config');
    assert.match(result.stderr, /applied: \+1 routing domain, \+2 virtual subnets, \+4 customer routes, \+4 lookup records, \+1 provider address, \+1 provider route \(etag "1"\)\n$/);
  });

  it('applies identical repeats once per -CimSession host and says so', async () => {
    const result = await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    const notes = result.stderr.split('\n').filter((l) => l.includes('note: '));
    const file = fixture('three-hosts.ps1');
    assert.deepEqual(notes, [
      `${file}: note: -InterfaceIndex $iface.InterfaceIndex (lines 50-51) is taken as gateway interface eth1 (--interface)`,
      `${file}: note: -CimSession ignored without a map file: ml110g6-01 (lines 12-19), ml110g6-02 (lines 22-24, 27, 30-33), ml110g6-03 (lines 39-46); every line configures ${gateway.url}`,
      `${file}: note: routing domains implied by customer routes: ${RD}`,
      `${file}: note: virtual subnets implied by customer routes: 5001, 5002`,
      `${file}: note: identical repeats apply once (line = earlier line): 22 = 12, 23 = 13, 24 = 14, 27 = 15, 30 = 16, 31 = 17, 32 = 18, 33 = 19, 39 = 12, 40 = 13, 41 = 14, 42 = 15, 43 = 16, 44 = 17, 45 = 18, 46 = 19`,
    ]);
  });

  it('changes nothing when the same script runs again', async () => {
    await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    const again = await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /note: already on the gateway, unchanged: lines 12-19, 22-24, 27, 30-33, 39-46, 50-51\n/);
    assert.equal(await etag(), '"1"');
  });

  it('reports lines that are not HNV cmdlets as skipped, not as errors', async () => {
    const result = await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1', '--dry-run', '-o', 'json'], { env });
    const report = JSON.parse(result.stdout) as { skipped: { line: number; text: string; reason: string }[] };
    assert.deepEqual(report.skipped, [
      { line: 8, text: '$cred = Get-Credential "CONTOSO\\hnvadmin"', reason: 'not a network-virtualization cmdlet' },
      { line: 9, text: 'Invoke-Command -ComputerName ml110g6-01, ml110g6-02, ml110g6-03 -Credent …', reason: 'not a network-virtualization cmdlet' },
      { line: 49, text: '$iface = Get-NetAdapter -Name "Ethernet 2"', reason: 'not a network-virtualization cmdlet' },
    ]);

    const other = await spawnCli(['hnv', fixture('skipped-lines.ps1')], { env });
    assert.equal(other.code, 0, other.stderr);
    const skipped = other.stderr.split('\n').filter((l) => l.includes(': skipped ('));
    assert.deepEqual(
      skipped.map((l) => /:(\d+): skipped \(([^)]*)\)/.exec(l)!.slice(1).join(' ')),
      ['2 not a network-virtualization cmdlet', '3 not a network-virtualization cmdlet', '5 not a network-virtualization cmdlet', '6 not a network-virtualization cmdlet', '7 nvgw has no equivalent of Get-NetVirtualizationGlobal', '8 not a network-virtualization cmdlet', '11 not a network-virtualization cmdlet', '12 not a network-virtualization cmdlet'],
    );
    // The route inside the foreach block, written with en dashes, is applied.
    assert.equal((await config()).customerRoutes.length, 1);
  });

  it('stops at an unknown parameter, names its line and column, and applies nothing', async () => {
    const result = await spawnCli(['hnv', fixture('error-unknown-parameter.ps1')], { env });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `${fixture('error-unknown-parameter.ps1')}:3:121: New-NetVirtualizationLookupRecord has no parameter -MACAdress; it takes -CustomerAddress, -VirtualSubnetID, -MACAddress, -ProviderAddress, -Rule, -CustomerID, -Context, -VMName, -UseVmMACAddress, -CimSession\n` +
        'nvgwctl: 1 problem(s) in the script; nothing was applied\n',
    );
    assert.equal(await etag(), '"0"');
  });

  it('reports every bad value with its line and column, across continuation lines', async () => {
    const result = await runCli(['hnv', 'error-bad-values.ps1'], { env, files: { 'error-bad-values.ps1': await readFixture('error-bad-values.ps1') } });
    assert.equal(result.code, 2);
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      'error-bad-values.ps1:2:137: host bits are set in "192.168.1.1/24"; the prefix is 192.168.1.0/24',
      'error-bad-values.ps1:3:52: VSID 100 is outside 4096..16777214 (RFC 7637 reserves 0-4095 and 0xFFFFFF)',
      'error-bad-values.ps1:5:22: "192.168.1.300" is not an IPv4 or IPv6 address',
      'error-bad-values.ps1:6:46: "00155D01140Z" is not a MAC address such as 00155D011404 or 00-15-5D-01-14-04',
      'error-bad-values.ps1:6:67: -Rule "TranslationMethodNone" is not one nvgw runs; use TranslationMethodEncap or TranslationMethodNat',
      'error-bad-values.ps1:7:53: "{11111111-2222-3333-4444-000000005001" is not a GUID such as {11111111-2222-3333-4444-000000005001}',
      'nvgwctl: 6 problem(s) in the script; nothing was applied',
    ]);
    assert.equal(await etag(), '"0"');
  });

  it('reports syntax slips: a value without a parameter, a parameter twice or without a value', async () => {
    const result = await runCli(['hnv', 'error-syntax.ps1'], { env, files: { 'error-syntax.ps1': await readFixture('error-syntax.ps1') } });
    assert.equal(result.code, 2);
    assert.deepEqual(result.stderr.split('\n').filter(Boolean), [
      'error-syntax.ps1:2:119: 00155D011404 has no parameter name; nvgw runs New-NetVirtualizationLookupRecord with named parameters only (-Name value)',
      'error-syntax.ps1:3:57: -VirtualSubnetID is given twice (also at column 35)',
      'error-syntax.ps1:3:112: -ProviderAddress needs a value',
      'error-syntax.ps1:4:107: 10.1.1.20" has no parameter name; nvgw runs New-NetVirtualizationLookupRecord with named parameters only (-Name value); is a quote missing or extra earlier on this line?',
      'nvgwctl: 4 problem(s) in the script; nothing was applied',
    ]);
  });

  it('refuses conflicting repeats, naming both lines', async () => {
    const result = await runCli(['hnv', 'error-conflict.ps1'], { env, files: { 'error-conflict.ps1': await readFixture('error-conflict.ps1') } });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.split('\n')[0],
      'error-conflict.ps1:5:131: lookup record 5001 192.168.1.101 conflicts with line 3: -MACAddress is 00155d011405 here but 00155d011404 on line 3',
    );
    assert.equal(await etag(), '"0"');
  });

  it('refuses a lookup record whose VSID no customer route places in a routing domain', async () => {
    const result = await runCli(['hnv', 'error-no-routing-domain.ps1'], { env, files: { 'error-no-routing-domain.ps1': await readFixture('error-no-routing-domain.ps1') } });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.split('\n')[0],
      'error-no-routing-domain.ps1:5:52: VSID 5003 has no routing domain: no customer route in the script or on the gateway names -VirtualSubnetID 5003 (HNV implies a VSID\'s routing domain from its customer routes)',
    );
    assert.equal(await etag(), '"0"');
  });

  it('takes a lookup record\u2019s routing domain from a VSID already on the gateway', async () => {
    await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    const result = await runCli(['hnv', 'more.ps1'], {
      env,
      files: { 'more.ps1': 'New-NetVirtualizationLookupRecord -VirtualSubnetID 5001 -CustomerAddress 192.168.1.103 -ProviderAddress 10.1.1.30 -MACAddress 00155D011E06 -Rule TranslationMethodEncap\n' },
    });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await config()).lookupRecords.length, 5);
  });

  it('traces the gateway\u2019s refusal back to the script line and column, and applies nothing', async () => {
    const result = await spawnCli(['hnv', fixture('error-not-on-link.ps1')], { env });
    assert.equal(result.code, 3);
    const lines = result.stderr.split('\n');
    assert.match(lines[0]!, /^nvgwctl: the gateway refused the script: 422 CUSTOMER_ADDRESS_NOT_ON_LINK: /);
    assert.equal(lines[1], `${fixture('error-not-on-link.ps1')}:4:74: 172.16.0.9 is not inside an on-link customer route (next hop 0.0.0.0) of VSID 5001 (CUSTOMER_ADDRESS_NOT_ON_LINK)`);
    assert.equal(lines[2], 'nvgwctl: nothing was applied');
    assert.equal(await etag(), '"0"');
  });

  it('needs --interface or a map entry for -InterfaceIndex, and says where', async () => {
    const result = await runCli(['hnv', 'three-hosts.ps1'], { env, files: { 'three-hosts.ps1': await readFixture('three-hosts.ps1') } });
    assert.equal(result.code, 2);
    assert.deepEqual(result.stderr.split('\n').slice(0, 2), [
      'three-hosts.ps1:50:54: -InterfaceIndex $iface.InterfaceIndex: nvgw cannot tell which gateway interface this is; pass --interface NAME, or map "$iface.InterfaceIndex" in the map file\'s "interfaces"',
      'three-hosts.ps1:51:52: -InterfaceIndex $iface.InterfaceIndex: nvgw cannot tell which gateway interface this is; pass --interface NAME, or map "$iface.InterfaceIndex" in the map file\'s "interfaces"',
    ]);
    assert.equal(await etag(), '"0"');
  });

  it('applies only the lines of -CimSession hosts the map file names as this gateway', async () => {
    const result = await runCli(['hnv', fixture('cimsession-map.ps1'), '--map', fixture('cimsession-map.json')], { env });
    assert.equal(result.code, 0, result.stderr);
    const doc = await config();
    assert.deepEqual(doc.providerAddresses, [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24, vlanId: 0 }]);
    assert.deepEqual(doc.providerRoutes, [{ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1', metric: 256 }]);
    assert.match(result.stderr, /note: -CimSession ml110g6-01 is not a gateway in the map file: lines 3, 6 not applied there\n/);
    assert.match(result.stderr, /note: -InterfaceIndex 12 \(lines 5-6\) is taken as gateway interface eth1 \(the map file\)\n/);
  });

  it('sends each -CimSession host\u2019s lines to the gateway the map file names', async () => {
    const second = await startTestGateway();
    try {
      // Both test gateways share nothing, so give the second one this gateway's token through its URL's client.
      const result = await runHnvScript(
        [
          'New-NetVirtualizationProviderAddress -InterfaceAlias eth1 -ProviderAddress 10.1.1.40 -PrefixLength 24 -CimSession gw-a',
          'New-NetVirtualizationProviderAddress -InterfaceAlias eth1 -ProviderAddress 10.1.1.41 -PrefixLength 24 -CimSession gw-b',
          'New-NetVirtualizationProviderRoute -InterfaceAlias eth1 -DestinationPrefix 0.0.0.0/0 -NextHop 10.1.1.1 -CimSession gw-a, gw-b',
        ].join('\n'),
        {
          defaultUrl: gateway.url,
          clientFor: (url) => (url === second.url ? second.client() : gateway.client()),
          map: { cimSessions: { 'gw-a': true, 'gw-b': second.url } },
        },
      );
      assert.deepEqual(result.targets.map((t) => [t.url, t.sync?.applied]), [
        [gateway.url, true],
        [second.url, true],
      ]);
      assert.deepEqual((await config()).providerAddresses.map((p) => p.providerAddress), ['10.1.1.40']);
      const other = (await second.client().getConfig()).document;
      assert.deepEqual(other.providerAddresses.map((p) => p.providerAddress), ['10.1.1.41']);
      assert.equal(other.providerRoutes.length, 1);
    } finally {
      await second.close();
    }
  });

  it('runs Remove-, Set- and Get- | Remove- in order, and removes subnets and domains with their last routes', async () => {
    await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    const script = [
      'Set-NetVirtualizationLookupRecord -CustomerAddress 192.168.1.102 -VirtualSubnetID 5001 -ProviderAddress 10.1.1.31 -VMName "hv3-blue02 (moved)"',
      'Remove-NetVirtualizationLookupRecord -VMName "hnv-gateway*" -Confirm:$false',
      'Get-NetVirtualizationCustomerRoute -VirtualSubnetID 5002 | Remove-NetVirtualizationCustomerRoute',
      'Remove-NetVirtualizationProviderRoute -WhatIf',
    ].join('\n');
    const result = await runCli(['hnv', 'change.ps1'], { env, files: { 'change.ps1': script } });
    assert.equal(result.code, 0, result.stderr);
    const doc = await config();
    assert.deepEqual(
      doc.lookupRecords.map((r) => `${r.customerAddress} ${r.providerAddress} ${r.vmName}`).sort(),
      ['192.168.1.101 10.1.1.20 hv3-blue01', '192.168.1.102 10.1.1.31 hv3-blue02 (moved)'],
    );
    assert.deepEqual(doc.customerRoutes.map((r) => r.virtualSubnetId), [5001, 5001]);
    assert.deepEqual(doc.virtualSubnets.map((s) => s.virtualSubnetId), [5001]);
    assert.equal(doc.providerRoutes.length, 1, '-WhatIf applies nothing');
    assert.match(result.stderr, /change\.ps1:4:1: note: -WhatIf: Remove-NetVirtualizationProviderRoute is not applied\n/);
    assert.match(result.stderr, /note: removed with their last customer routes: virtual subnet 5002\n/);
    assert.match(result.stderr, /applied: -1 virtual subnet, -2 customer routes, ~1 -2 lookup records \(etag "2"\)\n$/);
  });

  it('sets properties through Get- | Set-, printing -PassThru results unless piped to Out-Null', async () => {
    await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1'], { env });
    const script = [
      'Get-NetVirtualizationLookupRecord -VirtualSubnet 5001 | Set-NetVirtualizationLookupRecord -Context "migrated" -UseVmMACAddress $true -PassThru',
      'Set-NetVirtualizationCustomerRoute -DestinationPrefix 0.0.0.0/0 -Metric 10 -PassThru | Out-Null',
      'Set-NetVirtualizationProviderAddress -InterfaceIndex 7 -ProviderAddress 10.1.1.40 -VlanID 12',
    ].join('\n');
    const result = await runCli(['hnv', 'set.ps1', '--interface', 'eth1'], { env, files: { 'set.ps1': script } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((result.stdout.match(/^Context {9}: migrated$/gm) ?? []).length, 2);
    assert.doesNotMatch(result.stdout, /Metric/);
    const doc = await config();
    assert.deepEqual(doc.customerRoutes.map((r) => r.metric).sort((a, b) => a - b), [10, 10, 255, 255]);
    assert.deepEqual(doc.providerAddresses.map((p) => p.vlanId), [12]);
    assert.deepEqual(doc.lookupRecords.filter((r) => r.useVmMacAddress).map((r) => r.vmName).sort(), ['hv3-blue01', 'hv3-blue02']);
  });

  it('shows what a script would change with --dry-run, and applies nothing', async () => {
    const result = await runCli(['hnv', fixture('three-hosts.ps1'), '--interface', 'eth1', '--dry-run'], { env });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /\+ lookup record 5002 0\.0\.0\.0 {2}macAddress=00155d143c02 providerAddress=10\.1\.1\.40 rule=TranslationMethodEncap vmName=hnv-gateway-wildcard useVmMacAddress=false\n/);
    assert.match(result.stderr, /dry run: would apply \+1 routing domain, \+2 virtual subnets, \+4 customer routes, \+4 lookup records, \+1 provider address, \+1 provider route \(etag "0"\)\n/);
    assert.equal(await etag(), '"0"');
  });

  it('reads the script from stdin with -', async () => {
    const result = await spawnCli(['hnv', '-'], { env, stdin: 'New-NetVirtualizationProviderAddress -InterfaceAlias eth1 -ProviderAddress 10.1.1.40 -PrefixLength 24\n' });
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await config()).providerAddresses.length, 1);
  });
});

describe('nvgwctl hnv against a gateway that already holds a different object', () => {
  let gateway: TestGateway;
  before(async () => {
    gateway = await startTestGateway();
    await gateway.client().providerAddresses.create({ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 16 });
  });
  after(() => gateway.close());

  it('refuses New- over it, as HNV does, and points at the differing value', async () => {
    const result = await runCli(['hnv', 'pa.ps1'], {
      env: cliEnv(gateway),
      files: { 'pa.ps1': 'New-NetVirtualizationProviderAddress -InterfaceAlias eth1 -ProviderAddress 10.1.1.40 -PrefixLength 24' },
    });
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr.split('\n')[0],
      "pa.ps1:1:100: provider address 10.1.1.40 already exists on the gateway with -PrefixLength 16; HNV's New- does not replace an object: Remove- it first, or use Set-",
    );
  });
});
