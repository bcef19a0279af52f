// datapath.sharedTenantPort against the real kernel: which tenants the worker reads
// through the one shared packet port and which through a port each, as the number of
// VSIDs crosses the auto threshold (64) both ways. Root only.
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Lab } from '../../support/netns.js';
import { createLab } from '../../support/netns.js';

const agent = fileURLToPath(new URL('./support/tenant-modes-agent.js', import.meta.url));
const PAIRS = 70;

interface Step {
  asked: number;
  shared: boolean;
  ports: number;
  errors: unknown[];
}

describe('which packet ports serve the veth tenants', { timeout: 120_000 }, () => {
  let lab: Lab;
  let ns: string;

  before(async () => {
    lab = await createLab('nvtm');
    ns = await lab.namespace('gw');
    const script = [`ip link add fab0 type veth peer name fabp`, `ip link set fab0 up`, `ip link set fabp up`];
    for (let v = 1; v <= PAIRS; v++) script.push(`link add nvgw-t${v} type veth peer name nvgw-d${v}`, `link set nvgw-d${v} up`, `link set nvgw-t${v} up`);
    await lab.exec(ns, ['sh', '-c', script.slice(0, 3).join(' && ')]);
    // One `ip -batch` for the pairs: 210 commands, one process.
    await lab.exec(ns, ['ip', '-batch', '-'], { input: `${script.slice(3).join('\n')}\n` });
  });

  after(async () => {
    await lab?.destroy();
  });

  const run = async (mode: string, counts: number[]): Promise<Step[]> => {
    const { stdout } = await lab.exec(ns, [process.execPath, agent, mode, counts.join(',')]);
    return stdout.trim().split('\n').map((line) => JSON.parse(line) as Step);
  };

  it('auto: a port each below 64 VSIDs, the shared port from 64, and back only below 32', async () => {
    const steps = await run('auto', [10, 63, 64, 70, 40, 31, 10]);
    assert.deepEqual(
      steps.map((s) => [s.asked, s.ports, s.shared]),
      [
        [10, 10, false],
        [63, 63, false],
        [64, 64, true],
        [70, 70, true],
        [40, 40, true],
        [31, 31, false],
        [10, 10, false],
      ],
    );
    for (const s of steps) assert.deepEqual(s.errors, []);
  });

  it('on and off hold to their choice whatever the count', async () => {
    assert.deepEqual((await run('on', [3, 70])).map((s) => [s.ports, s.shared]), [[3, true], [70, true]]);
    assert.deepEqual((await run('off', [3, 70])).map((s) => [s.ports, s.shared]), [[3, false], [70, false]]);
  });
});
