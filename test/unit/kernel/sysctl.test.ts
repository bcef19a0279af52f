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

  it('refuses a key that would leave the root', async () => {
    await assert.rejects(sut.read('net/../../etc/passwd'), /not a sysctl key/);
  });
});
