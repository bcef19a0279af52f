// planKernel with the VRF backend, and its symmetry with policy routing: the two plans
// differ only in how a domain's table is selected. (A later issue runs this backend on a
// kernel with CONFIG_NET_VRF; here the plan is proven.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KernelPlan } from '../../../src/kernel/kernel-port.js';
import { planKernel, UNREACHABLE_METRIC } from '../../../src/kernel/plan.js';
import { bareKernel, ids, stepsOf, twoDomains } from './fixtures.js';

describe('planKernel (vrf)', () => {
  const plan = planKernel(twoDomains('vrf'), bareKernel());

  it('creates one VRF device per domain, with the domain table, before any tenant link', () => {
    const creates = stepsOf(plan, 'link', 'create');
    assert.deepEqual(
      creates.map((s) => [s.link.name, s.link.kind, s.link.vrfTable]),
      [
        ['nvgw-vrf-1001', 'vrf', 1001],
        ['nvgw-vrf-1002', 'vrf', 1002],
        ['nvgw-t5001', 'veth', undefined],
        ['nvgw-t6001', 'veth', undefined],
      ],
    );
  });

  it('brings each VRF up before enslaving its tenant link to it', () => {
    const updates = stepsOf(plan, 'link', 'update');
    assert.deepEqual(
      updates.map((s) => [s.link.name, s.changes.master, s.changes.up]),
      [
        ['nvgw-vrf-1001', undefined, true],
        ['nvgw-vrf-1002', undefined, true],
        ['nvgw-t5001', 'nvgw-vrf-1001', true],
        ['nvgw-d5001', undefined, true],
        ['nvgw-t6001', 'nvgw-vrf-1002', true],
        ['nvgw-d6001', undefined, true],
      ],
    );
    assert.deepEqual(updates[2]?.requires, ['nvgw-t5001', 'nvgw-vrf-1001'], 'skipped, not tried, when its VRF could not be made');
  });

  it('needs no ip rules, no mark sysctls and no local-route moves: l3mdev does that', () => {
    assert.deepEqual(stepsOf(plan, 'rule'), []);
    assert.deepEqual(stepsOf(plan, 'route', 'delete'), []);
    assert.ok(!stepsOf(plan, 'route').some((s) => s.route.type === 'local'));
    assert.ok(!stepsOf(plan, 'sysctl').some((s) => /fwmark|src_valid_mark/.test(s.key)));
  });

  it('still ends each VRF table with an unreachable default, as vrf.rst recommends', () => {
    assert.deepEqual(
      stepsOf(plan, 'route').filter((s) => s.route.type === 'unreachable').map((s) => [s.route.table, s.route.metric]),
      [
        [1001, UNREACHABLE_METRIC],
        [1002, UNREACHABLE_METRIC],
      ],
    );
  });

  it('recreates a VRF whose table is not the domain\'s, since a VRF cannot change tables', () => {
    const observed = bareKernel();
    observed.links.push({ name: 'nvgw-vrf-1001', kind: 'vrf', vrfTable: 4242, mac: '020000000001', mtu: 65575, up: true, master: null });
    const replan = planKernel(twoDomains('vrf'), observed);
    assert.deepEqual(
      replan.steps.filter((s) => s.id === 'link nvgw-vrf-1001').map((s) => s.op),
      ['delete', 'create', 'update'],
    );
  });

  it('deletes a VRF no longer wanted after the links enslaved to it', () => {
    const observed = bareKernel();
    observed.links.push(
      { name: 'nvgw-vrf-1009', kind: 'vrf', vrfTable: 1009, mac: '020000000001', mtu: 65575, up: true, master: null },
      { name: 'nvgw-t9001', kind: 'tap', mac: '00155d002329', mtu: 1458, up: true, master: 'nvgw-vrf-1009' },
    );
    const replan = planKernel({ backend: 'vrf', domains: [], provider: { addresses: [], routes: [] } }, observed);
    assert.deepEqual(ids(replan), ['link nvgw-t9001', 'link nvgw-vrf-1009']);
  });

  it('refuses a VRF name without the nvgw prefix', () => {
    const intent = twoDomains('vrf');
    intent.domains[0]!.vrfName = 'vrf-blue';
    const replan = planKernel(intent, bareKernel());
    assert.match(replan.conflicts[0]?.reason ?? '', /VRF name vrf-blue must start with "nvgw"/);
    assert.ok(!ids(replan).some((id) => id.includes('5001')));
  });
});

describe('the two backends are symmetric', () => {
  /** A plan with the table-selection mechanism of its backend taken out. */
  function common(plan: KernelPlan): string[] {
    return plan.steps
      .filter((s) => {
        if (s.kind === 'rule') return false;
        if (s.kind === 'link' && s.op !== 'delete' && s.link.kind === 'vrf') return false;
        if (s.kind === 'route' && (s.op === 'delete' || s.route.type === 'local')) return false;
        if (s.kind === 'sysctl' && /fwmark|src_valid_mark/.test(s.key)) return false;
        return true;
      })
      .map((s) => {
        if (s.kind === 'link' && s.op === 'update') {
          const { master: _master, ...changes } = s.changes;
          return `update ${s.id} ${JSON.stringify(changes)}`;
        }
        return `${s.op} ${s.id}`;
      });
  }

  it('plans the same links, addresses, neighbours, routes and sysctls apart from VRF devices vs rules', () => {
    const vrf = planKernel(twoDomains('vrf'), bareKernel());
    const policy = planKernel(twoDomains('policy-routing'), bareKernel());
    assert.deepEqual(common(vrf), common(policy));
  });

  it('gives the same answer when one domain is removed', () => {
    const vrfAfter = planKernel({ ...twoDomains('vrf'), domains: twoDomains('vrf').domains.slice(0, 1) }, bareKernel());
    const policyAfter = planKernel({ ...twoDomains(), domains: twoDomains().domains.slice(0, 1) }, bareKernel());
    assert.deepEqual(common(vrfAfter), common(policyAfter));
  });
});
