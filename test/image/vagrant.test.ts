/**
 * The Vagrantfile is valid for both providers: `vagrant validate` with the libvirt provider
 * (vagrant-libvirt, checks its provider block too) and with provider settings ignored (what
 * VirtualBox would read, without VirtualBox installed). Vagrant's state (.vagrant/) and home
 * go to a temporary directory, never into the repository.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { repoRoot } from '../support/paths.js';

describe('the Vagrantfile', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'nvgw-vagrant-'));
  // The gateway's payload folder must exist for validation (image/container-context fills it for `vagrant up`).
  const payload = join(scratch, 'payload');
  mkdirSync(payload);
  after(() => rmSync(scratch, { recursive: true, force: true }));

  const validate = (args: readonly string[], provider?: string): string => {
    const r = spawnSync('vagrant', ['validate', ...args], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 180_000,
      env: {
        ...process.env,
        NVGW_PAYLOAD: payload,
        VAGRANT_HOME: join(scratch, 'home'),
        VAGRANT_DOTFILE_PATH: join(scratch, 'dot'),
        VAGRANT_CHECKPOINT_DISABLE: '1',
        ...(provider === undefined ? {} : { VAGRANT_DEFAULT_PROVIDER: provider }),
      },
    });
    const out = `${r.stdout}${r.stderr}`;
    console.log(`vagrant validate ${args.join(' ')}${provider ? ` (provider ${provider})` : ''}: ${out.trim()}`);
    assert.equal(r.status, 0, out);
    return out;
  };

  it('validates with the libvirt provider', () => {
    assert.match(validate([], 'libvirt'), /Vagrantfile validated successfully/);
  });

  it('validates with provider settings ignored (VirtualBox is not installed here)', () => {
    assert.match(validate(['--ignore-provider']), /Vagrantfile validated successfully/);
  });
});
