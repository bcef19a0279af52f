// Offloads off on a tenant link (src/kernel/ethtool.ts, by SIOCETHTOOL from the native
// addon) against the real kernel, compared with what the ethtool command itself does.
// Root only.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Lab } from './ns.js';
import { createLab, inNs, ip } from './ns.js';

const ethtoolModule = fileURLToPath(new URL('../../../src/kernel/ethtool.js', import.meta.url));

/** Runs disableOffloads(ifname) in a node process inside `ns`; the error message if it threw. */
async function disableOffloadsIn(ns: string, ifname: string): Promise<string> {
  const script = `import(${JSON.stringify(ethtoolModule)}).then((m) => m.disableOffloads(${JSON.stringify(ifname)})).then(() => console.log('ok'), (e) => console.log(e.code + ' ' + e.message))`;
  return (await inNs(ns, process.execPath, '-e', script)).trim();
}

/** `ethtool -k` as feature -> "on"/"off" (the [fixed]/[requested] notes dropped). */
async function features(ns: string, ifname: string): Promise<Map<string, string>> {
  const out = await inNs(ns, 'ethtool', '-k', ifname);
  const entries = out
    .split('\n')
    .slice(1)
    .map((line) => /^\s*([a-z0-9_-]+): (on|off)/.exec(line))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => [m[1]!, m[2]!] as const);
  return new Map(entries);
}

describe('tenant link offloads', () => {
  let lab: Lab;
  let ns: string;

  before(async () => {
    lab = await createLab();
    ns = await lab.namespace('offl');
    await ip(ns, 'link', 'add', 'nvgw-t1', 'type', 'veth', 'peer', 'name', 'nvgw-d1');
    await ip(ns, 'link', 'add', 'ref-t1', 'type', 'veth', 'peer', 'name', 'ref-d1');
  });

  after(async () => {
    await lab?.cleanup();
  });

  it('turns off exactly what `ethtool -K tx off tso off gso off` turns off', async () => {
    const before = await features(ns, 'nvgw-t1');
    assert.equal(before.get('tx-checksumming'), 'on', 'a fresh veth starts with tx checksumming on');
    assert.equal(before.get('generic-segmentation-offload'), 'on');
    assert.equal(await disableOffloadsIn(ns, 'nvgw-t1'), 'ok');
    await inNs(ns, 'ethtool', '-K', 'ref-t1', 'tx', 'off', 'tso', 'off', 'gso', 'off');
    const ours = await features(ns, 'nvgw-t1');
    const reference = await features(ns, 'ref-t1');
    assert.deepEqual(ours, reference);
    for (const feature of ['tx-checksumming', 'tcp-segmentation-offload', 'generic-segmentation-offload']) assert.equal(ours.get(feature), 'off', feature);
    assert.equal((await features(ns, 'nvgw-d1')).get('tx-checksumming'), 'on', 'the other end of the pair is left alone');
  });

  it('is idempotent', async () => {
    assert.equal(await disableOffloadsIn(ns, 'nvgw-t1'), 'ok');
    assert.equal((await features(ns, 'nvgw-t1')).get('tx-checksumming'), 'off');
  });

  it('names the interface and the errno when the link does not exist', async () => {
    assert.match(await disableOffloadsIn(ns, 'nvgw-t404'), /^ENODEV .*nvgw-t404/);
  });
});
