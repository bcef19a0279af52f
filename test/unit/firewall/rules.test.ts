import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderFirewall } from '../../../src/firewall/rules.js';
import { repoRoot } from '../../support/paths.js';

describe('the firewall renderer', () => {
  it('renders nvgw\'s chains exactly as the golden file says', () => {
    const text = renderFirewall({
      gatewayPas: ['10.1.1.41', '10.1.1.40'],
      domainMarks: [
        { ifname: 'nvgw-t6001', mark: 1001, routingDomainId: '{11111111-2222-3333-4444-000000006001}', vsid: 6001 },
        { ifname: 'nvgw-t5001', mark: 1000, routingDomainId: '{11111111-2222-3333-4444-000000005001}', vsid: 5001 },
      ],
      domainAddresses: [
        { mark: 1001, address: '192.168.1.1' },
        { mark: 1000, address: '192.168.2.1' },
        { mark: 1000, address: '192.168.1.1' },
      ],
    });
    assert.equal(text, readFileSync(join(repoRoot, 'test', 'fixtures', 'firewall.golden'), 'utf8'));
  });

  it('flushes only NVGW-* chains: every chain it declares and every rule it appends is nvgw\'s', () => {
    const text = renderFirewall({ gatewayPas: ['10.1.1.40'], domainMarks: [{ ifname: 'nvgw-t5001', mark: 1000, routingDomainId: 'x', vsid: 5001 }], domainAddresses: [{ mark: 1000, address: '192.168.1.1' }] });
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) assert.match(line, /^:NVGW-/);
      if (line.startsWith('-A')) {
        assert.match(line, /^-A NVGW-/);
        assert.match(line, /-m comment --comment "nvgw: /);
      }
    }
  });
});
