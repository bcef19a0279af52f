import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FakeConntrackChannel } from '../../../src/kernel/fake-conntrack-channel.js';
import type { CtEntry, CtMessage } from '../../../src/nat/ctnetlink.js';

const entry: CtEntry = {
  original: { src: 0x0a000102, dst: 0x0a000202, protocol: 17, srcPort: 41000, dstPort: 9999, zone: 7 },
  reply: { src: 0x0a000202, dst: 0x0a000201, protocol: 17, srcPort: 9999, dstPort: 41000 },
  zone: 0,
  status: 0x198,
  mark: 0,
  timeout: 30,
};

describe('the fake conntrack channel', () => {
  it('records requests with their seqs and answers only when the test plays the kernel', () => {
    const sut = new FakeConntrackChannel();
    const heard: CtMessage[] = [];
    sut.onMessage((m) => heard.push(m));
    const update = sut.update(entry, { timeout: 600 });
    const dump = sut.dump();
    assert.deepEqual(sut.updates, [{ seq: update, op: 'update', entry, change: { timeout: 600 } }]);
    assert.equal(heard.length, 0);
    sut.answer(update, 2);
    sut.answerDump(dump, [entry]);
    sut.event('destroy', entry);
    assert.deepEqual(
      heard.map((m) => [m.kind, 'seq' in m ? m.seq : undefined]),
      [
        ['error', update],
        ['dump', dump],
        ['done', dump],
        ['destroy', 0],
      ],
    );
  });

  it('notifies overruns, and refuses requests once closed', () => {
    const sut = new FakeConntrackChannel();
    let overruns = 0;
    const off = sut.onOverrun(() => overruns++);
    sut.overrun();
    off();
    sut.overrun();
    assert.equal(overruns, 1);
    sut.close();
    assert.throws(() => sut.dump(), /closed/);
  });
});
