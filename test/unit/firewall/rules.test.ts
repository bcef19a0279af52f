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

  it('renders the VRF backend\'s tenant rules exactly as the golden file says: each VRF to its own gateway CAs, the rest dropped', () => {
    const text = renderFirewall({
      gatewayPas: ['10.1.1.40'],
      domainMarks: [],
      domainAddresses: [],
      vrfDomains: [
        { vrfName: 'nvgwv3e9', routingDomainId: '{11111111-2222-3333-4444-000000006001}', addresses: ['192.168.1.1'] },
        { vrfName: 'nvgwv3e8', routingDomainId: '{11111111-2222-3333-4444-000000005001}', addresses: ['192.168.2.1', '192.168.1.1', '192.168.2.1'] },
        { vrfName: 'nvgwv3ea', routingDomainId: '{11111111-2222-3333-4444-000000007001}', addresses: [] },
      ],
    });
    assert.equal(text, readFileSync(join(repoRoot, 'test', 'fixtures', 'firewall-vrf.golden'), 'utf8'));
  });

  it('renders no tenant rules for a backend it was given no domains of', () => {
    const text = renderFirewall({ gatewayPas: ['10.1.1.40'], domainMarks: [], domainAddresses: [], vrfDomains: [] });
    assert.doesNotMatch(text, /-A NVGW-INPUT/);
    assert.equal(renderFirewall({ gatewayPas: ['10.1.1.40'], domainMarks: [], domainAddresses: [] }), text);
  });

  it('flushes only NVGW-* chains: every chain it declares and every rule it appends is nvgw\'s', () => {
    const text = [
      renderFirewall({ gatewayPas: ['10.1.1.40'], domainMarks: [{ ifname: 'nvgw-t5001', mark: 1000, routingDomainId: 'x', vsid: 5001 }], domainAddresses: [{ mark: 1000, address: '192.168.1.1' }] }),
      renderFirewall({ gatewayPas: ['10.1.1.40'], domainMarks: [], domainAddresses: [], vrfDomains: [{ vrfName: 'nvgwv3e8', routingDomainId: 'x', addresses: ['192.168.1.1'] }] }),
    ].join('\n');
    for (const line of text.split('\n')) {
      if (line.startsWith(':')) assert.match(line, /^:NVGW-/);
      if (line.startsWith('-A')) {
        assert.match(line, /^-A NVGW-/);
        assert.match(line, /-m comment --comment "nvgw: /);
      }
    }
  });
});
