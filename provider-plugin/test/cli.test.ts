/**
 * nvgwctl, command by command and exit code by exit code: some through the real binary
 * (spawned), the rest through main() with captured output, all against a real gateway,
 * except stats and trace, which a stand-in server answers in the shapes nvgwctl expects.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { ConfigInput } from '../src/client/types.js';
import type { TestGateway } from './support/gateway.js';
import { cliEnv, runCli, spawnCli, startTestGateway } from './support/gateway.js';

const RD = '{11111111-2222-3333-4444-000000005001}';

const STATE: ConfigInput = {
  routingDomains: [{ routingDomainId: RD, name: 'Blue' }],
  virtualSubnets: [
    { virtualSubnetId: 5001, routingDomainId: RD },
    { virtualSubnetId: 5002, routingDomainId: RD },
  ],
  customerRoutes: [
    { routingDomainId: RD, virtualSubnetId: 5001, destinationPrefix: '192.168.1.0/24', metric: 255 },
    { routingDomainId: RD, virtualSubnetId: 5002, destinationPrefix: '192.168.2.0/24', metric: 255 },
  ],
  lookupRecords: [
    { virtualSubnetId: 5001, customerAddress: '192.168.1.101', macAddress: '00155D011404', providerAddress: '10.1.1.20', vmName: 'hv3-blue01' },
    { virtualSubnetId: 5001, customerAddress: '192.168.1.102', macAddress: '00155D011E04', providerAddress: '10.1.1.30', vmName: 'hv3-blue02' },
  ],
  providerAddresses: [{ interface: 'eth1', providerAddress: '10.1.1.40', prefixLength: 24 }],
  providerRoutes: [{ interface: 'eth1', destinationPrefix: '0.0.0.0/0', nextHop: '10.1.1.1' }],
};

/** A stand-in for a gateway that already has the data path's endpoints. */
async function dataPathServer(): Promise<{ url: string; bodies: unknown[]; close(): Promise<void> }> {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      res.setHeader('content-type', 'application/json');
      if (req.method === 'GET' && req.url === '/v1/stats') {
        res.end(
          JSON.stringify({
            drops: { 'gre-version': { packets: 0, bytes: 0 }, 'unknown-vsid': { packets: 3, bytes: 300 } },
            events: { 'arp-reply': { packets: 2, bytes: 84 } },
            vsids: [
              { virtualSubnetId: 5002, decapPackets: 1, decapBytes: 98, encapPackets: 1, encapBytes: 140, dropPackets: 0, dropBytes: 0 },
              { virtualSubnetId: 5001, decapPackets: 10, decapBytes: 1200, encapPackets: 8, encapBytes: 900, dropPackets: 3, dropBytes: 300 },
            ],
          }),
        );
      } else if (req.method === 'POST' && req.url === '/v1/trace') {
        bodies.push(JSON.parse(text));
        res.end(JSON.stringify({ verdict: 'drop', steps: [{ step: 'decode', detail: 'IPv4 GRE key 0x138900' }, { step: 'vsid', detail: '5001 is not configured', verdict: 'unknown-vsid' }] }));
      } else {
        res.statusCode = 404;
        res.end(JSON.stringify({ code: 'NO_SUCH_ROUTE', message: 'no route', details: [] }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    bodies,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: bound once, then closed. */
async function unusedPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('nvgwctl', () => {
  let gateway: TestGateway;
  let env: Record<string, string>;
  let stateFile: string;

  before(async () => {
    gateway = await startTestGateway();
    env = cliEnv(gateway);
    stateFile = join(gateway.dir, 'state.json');
    await writeFile(stateFile, JSON.stringify(STATE));
  });
  after(() => gateway.close());

  it('prints help with the exit codes and exits 0', async () => {
    const result = await spawnCli(['--help']);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /exit codes:/);
    for (const line of [/0 {2}success/, /2 {2}usage error/, /3 {2}the gateway answered with an error/, /4 {2}the gateway could not be reached/]) assert.match(result.stdout, line);
  });

  it('exits 2 on usage errors: no command, unknown command, option or kind', async () => {
    for (const args of [[], ['frobnicate'], ['get', '--bogus'], ['get', 'widgets'], ['delete', 'lookup-records', '5001'], ['status', '--cascade'], ['get', 'lr', '-o', 'yaml']]) {
      const result = await spawnCli(args, { env });
      assert.equal(result.code, 2, `${args.join(' ')}: ${result.stderr}`);
      assert.match(result.stderr, /nvgwctl: |usage:/);
    }
  });

  it('applies a state file from a path, then from stdin with nothing to change', async () => {
    const first = await spawnCli(['apply', '-f', stateFile], { env });
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^applied: \+1 routing domain, \+2 virtual subnets, \+2 customer routes, \+2 lookup records, \+1 provider address, \+1 provider route \(etag "1"\)$/m);
    const again = await spawnCli(['apply', '-f', '-'], { env, stdin: JSON.stringify(STATE) });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'no changes (etag "1")\n');
  });

  it('shows each kind as a table, or as JSON with -o json', async () => {
    const tables = {
      'routing-domains': /^ROUTING DOMAIN\s+NAME\s+CUSTOMER ID\n\{11111111-2222-3333-4444-000000005001\}\s+Blue\s+-\n$/,
      'virtual-subnets': /^VSID\s+ROUTING DOMAIN\s+NAME\n5001\s+\{1111.*\n5002\s/,
      'customer-routes': /^ROUTING DOMAIN\s+VSID\s+DESTINATION\s+NEXT HOP\s+METRIC\n\S+\s+5001\s+192\.168\.1\.0\/24\s+0\.0\.0\.0\s+255/,
      'lookup-records': /^VSID\s+CUSTOMER ADDRESS\s+MAC\s+PROVIDER ADDRESS\s+RULE\s+VM NAME\n5001\s+192\.168\.1\.101\s+00155d011404\s+10\.1\.1\.20\s+TranslationMethodEncap\s+hv3-blue01\n/,
      'provider-addresses': /^INTERFACE\s+PROVIDER ADDRESS\s+PREFIX LENGTH\s+VLAN\neth1\s+10\.1\.1\.40\s+24\s+0$/m,
      'provider-routes': /^INTERFACE\s+DESTINATION\s+NEXT HOP\s+METRIC\neth1\s+0\.0\.0\.0\/0\s+10\.1\.1\.1\s+256$/m,
    };
    for (const [kind, pattern] of Object.entries(tables)) {
      const result = await runCli(['get', kind], { env });
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, pattern, kind);
    }
    const json = await runCli(['get', 'lr', '-o', 'json'], { env });
    assert.deepEqual(
      (JSON.parse(json.stdout) as { customerAddress: string }[]).map((r) => r.customerAddress).sort(),
      ['192.168.1.101', '192.168.1.102'],
    );
    const wide = await runCli(['get', 'lookup-records', '-o', 'wide'], { env });
    assert.match(wide.stdout, /USE VM MAC\s+CUSTOMER ID\s+CONTEXT/);
  });

  it('gets one item by its whole key, lists by a partial key or --filter, and prints config as JSON', async () => {
    const one = await runCli(['get', 'customer-routes', RD, '5001', '192.168.1.0/24', '-o', 'json'], { env });
    assert.equal(JSON.parse(one.stdout).metric, 255);
    const partial = await runCli(['get', 'lr', '5001'], { env });
    assert.equal(partial.stdout.trim().split('\n').length, 3);
    const filtered = await runCli(['get', 'lookup-records', '--filter', 'MACAddress=00-15-5D-01-1E-04', '-o', 'json'], { env });
    assert.deepEqual(JSON.parse(filtered.stdout).map((r: { vmName: string }) => r.vmName), ['hv3-blue02']);
    const none = await runCli(['get', 'lr', '--filter', 'vmName=nobody'], { env });
    assert.deepEqual([none.code, none.stdout, none.stderr], [0, '', 'no lookup records match\n']);
    const config = await runCli(['get', 'config'], { env });
    assert.equal(JSON.parse(config.stdout).lookupRecords.length, 2);
  });

  it('diffs a state file against the gateway without changing it', async () => {
    const changed = { ...STATE, lookupRecords: [{ ...STATE.lookupRecords![0]!, providerAddress: '10.1.1.21' }], providerRoutes: [] };
    const result = await runCli(['diff', '-f', 'changed.json'], { env, files: { 'changed.json': JSON.stringify(changed) } });
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      '- lookup record 5001 192.168.1.102\n~ lookup record 5001 192.168.1.101: providerAddress 10.1.1.20 -> 10.1.1.21\n- provider route eth1 0.0.0.0/0\n',
    );
    assert.equal(result.stderr, '~1 -1 lookup records, -1 provider route (against etag "1")\n');
    const dry = await runCli(['apply', '-f', 'changed.json', '--dry-run'], { env, files: { 'changed.json': JSON.stringify(changed) } });
    assert.match(dry.stdout, /dry run: would apply ~1 -1 lookup records, -1 provider route \(etag "1"\)\n$/);
    assert.equal((await gateway.client().getConfig()).etag, '"1"');
  });

  it('exits 2 for a state file that is not JSON or names unknown collections', async () => {
    const bad = await runCli(['apply', '-f', 'bad.json'], { env, files: { 'bad.json': '{"lookupRecords": [' } });
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /bad\.json is not valid JSON/);
    const unknown = await runCli(['apply', '-f', 'u.json'], { env, files: { 'u.json': '{"widgets": []}' } });
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown collection\(s\) widgets/);
  });

  it('exits 3 with the code, message and details when the gateway refuses', async () => {
    const result = await spawnCli(['delete', 'virtual-subnets', '5001'], { env });
    assert.equal(result.code, 3);
    assert.match(result.stderr, /^nvgwctl: DELETE \/v1\/virtual-subnets\/5001: 409 STILL_REFERENCED: virtual subnet 5001 is still referenced by 3 object\(s\)/);
    assert.match(result.stderr, /\n {2}lookupRecords\/5001 192\.168\.1\.101: still refers to it\n/);
    const invalid = await runCli(['apply', '-f', 'v.json'], { env, files: { 'v.json': JSON.stringify({ virtualSubnets: [{ virtualSubnetId: 12, routingDomainId: RD }] }) } });
    assert.equal(invalid.code, 3);
    assert.match(invalid.stderr, /422 VSID_OUT_OF_RANGE/);
    assert.match(invalid.stderr, /virtualSubnets\/0\/virtualSubnetId: VSID 12 is outside 4096\.\.16777214/);
  });

  it('deletes one item, and with --cascade what refers to it', async () => {
    const one = await runCli(['delete', 'lr', '5001', '192.168.1.102'], { env });
    assert.deepEqual([one.code, one.stdout], [0, 'deleted lookup record 5001 192.168.1.102\n']);
    const cascade = await spawnCli(['delete', 'vs', '5001', '--cascade'], { env });
    assert.equal(cascade.code, 0, cascade.stderr);
    assert.equal(
      cascade.stdout,
      `deleted lookup record 5001 192.168.1.101\ndeleted customer route ${RD} 5001 192.168.1.0/24\ndeleted virtual subnet 5001\n`,
    );
  });

  it('prints status as key/value lines, or JSON', async () => {
    const table = await spawnCli(['status'], { env });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^version\s+\d+\.\d+\.\d+$/m);
    assert.match(table.stdout, /^counts\.lookupRecords\s+0$/m);
    const json = await runCli(['status', '-o', 'json'], { env });
    assert.equal(JSON.parse(json.stdout).counts.virtualSubnets, 1);
  });

  it('traces a packet through the gateway and prints the verdict, exit 0', async () => {
    const trace = await spawnCli(['trace', '--hex', '45 00 00 54'], { env });
    assert.equal(trace.code, 0, trace.stderr);
    assert.match(trace.stdout, /truncated-ethernet/);
  });

  it('says when an older gateway does not offer stats yet, and exits 3', async () => {
    const older = http.createServer((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ code: 'NO_SUCH_ROUTE', message: 'no route GET /v1/stats; see /v1/openapi.json', details: [] }));
    });
    await new Promise<void>((resolve) => older.listen(0, '127.0.0.1', resolve));
    try {
      const stats = await spawnCli(['stats', '--url', `http://127.0.0.1:${(older.address() as AddressInfo).port}`, '--token', 'x-token-x-token-x']);
      assert.equal(stats.code, 3);
      assert.equal(stats.stderr, 'nvgwctl: this gateway does not offer data-path statistics (GET /v1/stats) yet (it answered 404 NO_SUCH_ROUTE)\n');
    } finally {
      await new Promise<void>((resolve) => older.close(() => resolve()));
    }
  });

  it('says when the gateway runs without a data path, and exits 3', async () => {
    const stats = await spawnCli(['stats'], { env });
    assert.equal(stats.code, 3);
    assert.match(stats.stderr, /^nvgwctl: this gateway runs without a data path, so it has no packet counters or traces: .* \(501 DATAPATH_DISABLED\)\n$/);
  });

  it('renders stats and a trace from a gateway that offers them', async () => {
    const server = await dataPathServer();
    try {
      const stats = await runCli(['stats', '--url', server.url, '--token', 'x-token-x-token-x']);
      assert.equal(stats.code, 0, stats.stderr);
      assert.equal(
        stats.stdout,
        [
          'VSID   DECAP PACKETS   DECAP BYTES   ENCAP PACKETS   ENCAP BYTES   DROP PACKETS   DROP BYTES',
          '5001   10              1200          8               900           3              300',
          '5002   1               98            1               140           0              0',
          '',
          'DROP REASON    PACKETS   BYTES',
          'unknown-vsid   3         300',
          '',
          'EVENT       PACKETS   BYTES',
          'arp-reply   2         84',
          '',
        ].join('\n'),
      );
      const wide = await runCli(['stats', '-o', 'wide', '--url', server.url, '--token', 'x-token-x-token-x']);
      assert.match(wide.stdout, /^gre-version\s+0\s+0$/m);
      const trace = await runCli(['trace', '--url', server.url, '--hex', '45:00:00:54', '--ingress', 'fabric']);
      assert.equal(trace.code, 0, trace.stderr);
      assert.deepEqual(server.bodies, [{ hex: '45000054', ingress: 'fabric' }]);
      assert.equal(trace.stdout, ' 1. decode: IPv4 GRE key 0x138900\n 2. vsid: 5001 is not configured [unknown-vsid]\nverdict   drop\n');
    } finally {
      await server.close();
    }
  });

  it('exits 4 when the gateway cannot be reached', async () => {
    const port = await unusedPort();
    const result = await spawnCli(['status', '--url', `http://127.0.0.1:${port}`, '--retries', '0']);
    assert.equal(result.code, 4);
    assert.equal(
      result.stderr,
      `nvgwctl: cannot reach the gateway at http://127.0.0.1:${port}: connection to 127.0.0.1:${port} refused; is the gateway running and listening there? (CONNECTION_REFUSED)\n`,
    );
  });

  it('takes the token from --token, --token-file, NVGW_TOKEN or NVGW_TOKEN_FILE, and exits 3 on a wrong one', async () => {
    const url = gateway.url;
    for (const [args, extra] of [
      [['--token', gateway.token], {}],
      [['--token-file', gateway.tokenFile], {}],
      [[], { NVGW_TOKEN: gateway.token }],
      [[], { NVGW_TOKEN_FILE: gateway.tokenFile }],
    ] as [string[], Record<string, string>][]) {
      const result = await runCli(['status', '--url', url, ...args], { env: extra });
      assert.equal(result.code, 0, `${args.join(' ')} ${JSON.stringify(extra)}: ${result.stderr}`);
    }
    const wrong = await spawnCli(['status', '--url', url, '--token', 'wrong-token-wrong-token']);
    assert.equal(wrong.code, 3);
    assert.match(wrong.stderr, /401 UNAUTHORIZED: the bearer token is not valid/);
    const missing = await runCli(['status', '--url', url, '--token-file', join(gateway.dir, 'nope')]);
    assert.equal(missing.code, 2);
  });
});
