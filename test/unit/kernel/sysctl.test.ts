// sysctls as files below a /proc/sys root; a temporary directory stands in for it.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { procSysctl } from '../../../src/kernel/sysctl.js';

describe('procSysctl', () => {
  const root = mkdtempSync(join(tmpdir(), 'nvgw-sysctl-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'net/ipv4/conf/nvgw-t5001.7'), { recursive: true });
  writeFileSync(join(root, 'net/ipv4/conf/nvgw-t5001.7/arp_ignore'), '0\n');
  const sut = procSysctl(root);

  it('reads a value trimmed, with a dot in the interface name kept as part of the name', async () => {
    assert.equal(await sut.read('net/ipv4/conf/nvgw-t5001.7/arp_ignore'), '0');
  });

  it('writes a value with the newline the kernel expects', async () => {
    await sut.write('net/ipv4/conf/nvgw-t5001.7/arp_ignore', '1');
    assert.equal(readFileSync(join(root, 'net/ipv4/conf/nvgw-t5001.7/arp_ignore'), 'utf8'), '1\n');
  });

  it('answers undefined for a key that does not exist', async () => {
    assert.equal(await sut.read('net/ipv6/conf/nvgw-t5001.7/disable_ipv6'), undefined);
  });

  it('reads many keys at once, leaving out the ones that do not exist', async () => {
    mkdirSync(join(root, 'net/ipv4/conf/nvgw-d9'), { recursive: true });
    const keys = Array.from({ length: 600 }, (_, i) => `net/ipv4/conf/nvgw-d9/k${i}`);
    keys.forEach((key, i) => i % 3 !== 0 && writeFileSync(join(root, key), `${i}\n`));
    const values = await sut.readAll([...keys, 'net/ipv4/conf/nvgw-t5001.7/arp_ignore']);
    assert.equal(values.size, 400 + 1);
    assert.equal(values.get('net/ipv4/conf/nvgw-d9/k597'), undefined);
    assert.equal(values.get('net/ipv4/conf/nvgw-d9/k598'), '598');
    assert.equal(values.get('net/ipv4/conf/nvgw-t5001.7/arp_ignore'), '1');
  });

  it('refuses a key that would leave the root', async () => {
    await assert.rejects(sut.readAll(['net/ipv4/ip_forward', 'net/../../etc/passwd']), /not a sysctl key/);
    await assert.rejects(sut.read('net/../../etc/passwd'), /not a sysctl key/);
  });
});
