/**
 * nvgw's NAT rules against the real iptables-restore (iptables-nft) and kernel, in a scratch
 * namespace: the rendered text is accepted, an incremental apply ends where a full one does,
 * a full apply repairs drift, a failed restore leaves the previous rules in force, and
 * remove() leaves no trace.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FirewallIntent } from '../../../src/firewall/rules.js';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';
import { renderIntent } from '../../unit/nat/fixtures.js';
import { nsFirewall, nsRunner, nvgwRules } from './support/ns-iptables.js';

/** The fixture after a change to one domain: red's SNAT address and port forward moved, grey gone. */
function changed(): FirewallIntent {
  const intent = renderIntent();
  const nat = intent.nat!;
  nat.domains = nat.domains.filter((d) => d.mark !== 1003);
  const red = nat.domains.find((d) => d.mark === 1001)!;
  red.nat!.snat = '203.0.113.12';
  red.nat!.forwards[0]!.externalPort = 9091;
  nat.uplinks[0]!.natOnlyAddresses.push('203.0.113.12');
  return intent;
}

describe('NAT rules with the real iptables', { timeout: 120_000 }, () => {
  let lab: Lab;

  before(async () => {
    lab = await createLab('nvfw');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('iptables-restore takes the whole rendered rule set and hooks every chain once', async () => {
    const ns = await lab.namespace('hook');
    await nsFirewall(lab, ns).apply(renderIntent());
    const rules = await nvgwRules(lab, ns);
    for (const [table, from, chain] of [
      ['*raw', 'PREROUTING', 'NVGW-ZONES'],
      ['*raw', 'OUTPUT', 'NVGW-ZONES-OUT'],
      ['*mangle', 'PREROUTING', 'NVGW-CONNMARK'],
      ['*nat', 'PREROUTING', 'NVGW-PREROUTING'],
      ['*nat', 'POSTROUTING', 'NVGW-POSTROUTING'],
      ['*filter', 'FORWARD', 'NVGW-FORWARD'],
    ]) {
      assert.equal(rules.filter((r) => r === `${table} -A ${from} -j ${chain}`).length, 1, `${table} ${from} -> ${chain}`);
    }
    assert.ok(rules.some((r) => r.includes('-j CT --zone-orig 1000')), 'the kernel took CT --zone-orig');
  });

  it('an incremental apply ends exactly where a full apply of the same intent does', async () => {
    const [incremental, fresh] = [await lab.namespace('inc'), await lab.namespace('fresh')];
    const firewall = nsFirewall(lab, incremental);
    await firewall.apply(renderIntent());
    await firewall.apply(changed());
    await nsFirewall(lab, fresh).apply(changed());
    assert.deepEqual((await nvgwRules(lab, incremental)).sort(), (await nvgwRules(lab, fresh)).sort());
    assert.ok(!(await nvgwRules(lab, incremental)).some((r) => r.includes('NVGW-Z-3eb')), 'the removed domain\'s chains are gone');
  });

  it('a full apply (resync) repairs a flushed chain and a deleted jump', async () => {
    const ns = await lab.namespace('drift');
    const firewall = nsFirewall(lab, ns);
    await firewall.apply(renderIntent());
    const good = await nvgwRules(lab, ns);
    await lab.exec(ns, ['iptables', '-t', 'nat', '-F', 'NVGW-POSTROUTING']);
    await lab.exec(ns, ['iptables', '-t', 'raw', '-D', 'PREROUTING', '-j', 'NVGW-ZONES']);
    assert.notDeepEqual(await nvgwRules(lab, ns), good);
    await firewall.apply(renderIntent(), { full: true });
    assert.deepEqual((await nvgwRules(lab, ns)).sort(), good.sort());
  });

  it('a resync with nothing drifted reads the kernel back and writes nothing', async () => {
    const ns = await lab.namespace('resync');
    const real = nsRunner(lab, ns);
    const commands: string[] = [];
    const firewall = nsFirewall(lab, ns, (file, args, input) => {
      commands.push([file, ...args].join(' '));
      return real(file, args, input);
    });
    await firewall.apply(renderIntent());
    commands.length = 0;
    await firewall.apply(renderIntent(), { full: true });
    assert.deepEqual(commands, ['iptables-save']);
  });

  it('a restore that fails in a later table is rolled back: the previous rules stay in force', async () => {
    const ns = await lab.namespace('fail');
    const real = nsRunner(lab, ns);
    let sabotage = false;
    // The kernel commits iptables-restore table by table; a rule the nat table refuses after
    // raw and mangle were committed is the case a rollback exists for.
    const firewall = nsFirewall(lab, ns, (file, args, input) => {
      if (!sabotage || input === undefined || args.includes('--test') || !input.includes('*nat')) return real(file, args, input);
      sabotage = false;
      return real(file, args, input.replace(/\*nat\n/, '*nat\n:NVGW-BROKEN - [0:0]\n-A NVGW-BROKEN -j NVGW-NO-SUCH-CHAIN\n'));
    });
    await firewall.apply(renderIntent());
    const before = await nvgwRules(lab, ns);
    sabotage = true;
    await assert.rejects(firewall.apply(changed()), /rolled back; the previous rules stay in force/);
    assert.deepEqual((await nvgwRules(lab, ns)).filter((r) => !r.includes('NVGW-BROKEN')).sort(), before.sort());
    await firewall.apply(changed());
    assert.ok((await nvgwRules(lab, ns)).some((r) => r.includes('--dport 9091')), 'the change lands once iptables accepts it');
  });

  it('remove() takes every NVGW chain and jump away and leaves others alone', async () => {
    const ns = await lab.namespace('remove');
    await lab.exec(ns, ['iptables', '-t', 'nat', '-N', 'ops-chain']);
    await lab.exec(ns, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-j', 'ops-chain']);
    const firewall = nsFirewall(lab, ns);
    await firewall.apply(renderIntent());
    await firewall.remove();
    assert.deepEqual(await nvgwRules(lab, ns), []);
    assert.match((await lab.exec(ns, ['iptables-save', '-t', 'nat'])).stdout, /^-A POSTROUTING -j ops-chain$/m);
  });
});
