import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { call, makeStateDir, startGatewayProcess } from '../support/gateway-process.js';
import { BLUE_RD, nthRecord } from '../support/fixtures.js';

describe('crash safety', () => {
  const dir = makeStateDir('nvgw-crash-');
  after(() => dir.remove());

  it('loses no write that got a 2xx when the gateway is killed with SIGKILL mid-stream', async () => {
    const gw = await startGatewayProcess(dir);
    const base = stateWithoutRecords();
    assert.equal((await call(gw, 'PUT', '/v1/config', base)).status, 200);

    const acknowledged: string[] = [];
    let failures = 0;
    let stop = false;
    // Four concurrent writers, so the kill lands while commits are in flight.
    const writer = async (lane: number) => {
      for (let i = lane; !stop; i += 4) {
        const record = nthRecord(i);
        try {
          const res = await call(gw, 'POST', '/v1/lookup-records', record);
          if (res.status === 201) acknowledged.push(record.customerAddress);
          else throw new Error(`unexpected ${res.status} ${res.text}`);
        } catch (error) {
          if ((error as Error).message.startsWith('unexpected')) throw error;
          failures++;
          return; // connection refused/reset: the gateway is dead
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    await sleep(1500);
    await gw.stop('SIGKILL');
    stop = true;
    await Promise.all(writers);
    assert.ok(acknowledged.length > 50, `only ${acknowledged.length} writes acknowledged before the kill`);
    assert.ok(failures > 0, 'the kill should have interrupted at least one writer');

    const restarted = await startGatewayProcess(dir);
    try {
      const res = await call(restarted, 'GET', '/v1/lookup-records?virtualSubnetId=5001');
      const present = new Set((res.json() as { items: { customerAddress: string }[] }).items.map((r) => r.customerAddress));
      const lost = acknowledged.filter((ca) => !present.has(ca));
      assert.deepEqual(lost, [], `${lost.length} of ${acknowledged.length} acknowledged writes were lost`);
      console.log(`# crash test: ${acknowledged.length} acknowledged writes, ${present.size} present after restart, 0 lost`);
    } finally {
      await restarted.stop('SIGTERM');
    }
  });
});

function stateWithoutRecords() {
  return {
    routingDomains: [{ routingDomainId: BLUE_RD, name: 'blue' }],
    virtualSubnets: [{ virtualSubnetId: 5001, routingDomainId: BLUE_RD }],
    customerRoutes: [{ routingDomainId: BLUE_RD, virtualSubnetId: 5001, destinationPrefix: '10.0.0.0/8', nextHop: '0.0.0.0' }],
  };
}
