import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../../../src/config/config.js';
import { loadOrCreateToken } from '../../../src/config/token-file.js';
import { repoRoot } from '../../support/paths.js';

const dir = mkdtempSync(join(tmpdir(), 'nvgw-config-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: unknown): string {
  const path = join(dir, `c${n++}.json`);
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content));
  return path;
}

function configError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, String(error));
    return error.message;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('binds to loopback by default', () => {
    assert.equal(loadConfig(undefined, {}).api.host, '127.0.0.1');
  });

  it('names an unknown key', () => {
    assert.match(configError(() => loadConfig(file({ api: { prot: 80 } }), {})), /unknown key "api\.prot"/);
  });

  it('names a bad value and the problem', () => {
    assert.match(configError(() => loadConfig(file({ api: { port: 70000 } }), {})), /api\.port: ports must be within range/);
    assert.match(configError(() => loadConfig(file({ log: { level: 'loud' } }), {})), /log\.level/);
    assert.match(configError(() => loadConfig(file({ state: { path: 'relative.db' } }), {})), /state\.path: must be an absolute path/);
  });

  it('reports a file that is not JSON with its name', () => {
    const path = file('{ "api": ');
    assert.match(configError(() => loadConfig(path, {})), new RegExp(`${path}: not valid JSON`));
  });

  it('lets NVGW_* environment variables override the file', () => {
    const config = loadConfig(file({ api: { port: 9000 }, log: { level: 'warn' } }), { NVGW_API_PORT: '9100' });
    assert.equal(config.api.port, 9100);
    assert.equal(config.log.level, 'warn');
  });

  it('refuses a TLS certificate without its key, and mTLS without TLS', () => {
    assert.match(configError(() => loadConfig(file({ api: { tls: { cert: '/etc/nvgw/cert.pem' } } }), {})), /cert and api\.tls\.key must be set together/);
    assert.match(configError(() => loadConfig(file({ api: { tls: { clientCa: '/etc/nvgw/ca.pem' } } }), {})), /clientCa needs/);
  });

  it('`nvgw config check` exits 0 for a good file and 2 naming the key for a bad one', () => {
    const cli = join(repoRoot, 'bin', 'nvgw.js');
    assert.match(execFileSync(process.execPath, [cli, 'config', 'check', file({ api: { port: 8471 } })], { encoding: 'utf8' }), /: ok/);
    const bad = spawnSync(process.execPath, [cli, 'config', 'check', file({ state: { synchronous: 'sometimes' } })], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /state\.synchronous/);
  });
});

describe('the API token file', () => {
  it('is generated on first use with mode 0600 and read back unchanged', () => {
    const path = join(dir, 'sub', 'token');
    const first = loadOrCreateToken(path);
    assert.equal(first.generated, true);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const second = loadOrCreateToken(path);
    assert.deepEqual(second, { token: first.token, generated: false });
  });

  it('warns when others can read it and refuses a too-short token', () => {
    const path = join(dir, 'loose-token');
    writeFileSync(path, 'a-sufficiently-long-token\n', { mode: 0o644 });
    assert.match(loadOrCreateToken(path).warning ?? '', /chmod 600/);
    writeFileSync(path, 'short');
    assert.throws(() => loadOrCreateToken(path), /at least 16 characters/);
  });
});
