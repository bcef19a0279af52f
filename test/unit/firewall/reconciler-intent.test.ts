// What the reconciler hands the firewall for the tenant rules of NVGW-INPUT, per backend:
// VRF names and their gateway CAs for the vrf backend, marks for the policy-routing one.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Backend } from '../../../src/kernel/intent.js';
import { startFakeReconciler } from '../../support/fake-reconciler.js';
import { BLUE, GREEN, hnvPart, RED } from '../nat/fixtures.js';

const setup = (backend: Backend) => startFakeReconciler(hnvPart(), { backend });

describe('the firewall intent of the tenant rules', () => {
  it('on the VRF backend names each domain\'s VRF and the gateway CAs in it, and no marks', async () => {
    const { sut, firewall, kernelIntents } = await setup('vrf');
    const intent = firewall.applied.at(-1)!;
    const vrfOf = new Map(kernelIntents.at(-1)!.domains.map((d) => [d.routingDomainId, d.vrfName]));
    assert.deepEqual(intent.domainMarks, []);
    assert.deepEqual(intent.domainAddresses, []);
    assert.deepEqual(
      [...(intent.vrfDomains ?? [])].sort((a, b) => a.vrfName.localeCompare(b.vrfName)),
      [
        { vrfName: vrfOf.get(BLUE), routingDomainId: BLUE, addresses: ['192.168.1.1'] },
        { vrfName: vrfOf.get(RED), routingDomainId: RED, addresses: ['192.168.1.1'] },
        { vrfName: vrfOf.get(GREEN), routingDomainId: GREEN, addresses: ['10.20.0.1'] },
      ].sort((a, b) => a.vrfName!.localeCompare(b.vrfName!)),
    );
    for (const d of intent.vrfDomains ?? []) assert.match(d.vrfName, /^nvgwv[0-9a-f]+$/);
    await sut.stop();
  });

  it('on the policy-routing backend marks the tenant interfaces and names no VRF', async () => {
    const { sut, firewall } = await setup('policy-routing');
    const intent = firewall.applied.at(-1)!;
    assert.deepEqual(intent.vrfDomains ?? [], []);
    assert.deepEqual(intent.domainMarks.map((m) => m.vsid).sort(), [5001, 6001, 7001]);
    assert.deepEqual(intent.domainAddresses.map((a) => a.address).sort(), ['10.20.0.1', '192.168.1.1', '192.168.1.1']);
    await sut.stop();
  });
});
