import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Token } from '../src/hnv/tokenizer.js';
import { tokenize } from '../src/hnv/tokenizer.js';

const brief = (t: Token) => `${t.kind}:${t.value}@${t.line}:${t.col}`;

function statements(source: string): string[][] {
  const result = tokenize(source);
  assert.deepEqual(result.errors, []);
  return result.statements.map((s) => s.tokens.map(brief));
}

describe('HNV script tokenizer', () => {
  it('reads parameters and quoted, single-quoted and bare values with their line and column', () => {
    assert.deepEqual(statements(`New-NetVirtualizationLookupRecord -VirtualSubnetID "5001" -VMName 'hv3-blue01' -Metric 255`), [
      ['word:New-NetVirtualizationLookupRecord@1:1', 'param:VirtualSubnetID@1:35', 'string:5001@1:52', 'param:VMName@1:59', 'string:hv3-blue01@1:67', 'param:Metric@1:80', 'word:255@1:88'],
    ]);
  });

  it('joins backtick continuations into one statement and keeps each token\u2019s own line', () => {
    const source = 'New-NetVirtualizationCustomerRoute -RoutingDomainID {11111111-2222-3333-4444-000000005001} `\n    -VirtualSubnetID 5001 `\r\n    -DestinationPrefix 192.168.1.0/24\nGet-NetVirtualizationCustomerRoute\n';
    const result = statements(source);
    assert.equal(result.length, 2);
    assert.deepEqual(result[0], [
      'word:New-NetVirtualizationCustomerRoute@1:1',
      'param:RoutingDomainID@1:36',
      'word:{11111111-2222-3333-4444-000000005001}@1:53',
      'param:VirtualSubnetID@2:5',
      'word:5001@2:22',
      'param:DestinationPrefix@3:5',
      'word:192.168.1.0/24@3:24',
    ]);
  });

  it('continues after a backtick followed by trailing blanks, with a note that Windows would not', () => {
    const result = tokenize('Get-NetVirtualizationLookupRecord ` \n  -VirtualSubnetID 5001');
    assert.equal(result.statements.length, 1);
    assert.deepEqual(result.notes.map((n) => [n.line, n.col]), [[1, 35]]);
  });

  it('drops # comments and <# #> block comments, but not a # inside a word or string', () => {
    const source = '<# header\n   spanning lines #>\nNew-X -Context "a # b" -VMName vm#1 # trailing comment\n# whole line\n';
    assert.deepEqual(statements(source), [['word:New-X@3:1', 'param:Context@3:7', 'string:a # b@3:16', 'param:VMName@3:24', 'word:vm#1@3:32']]);
  });

  it('reads a #nvgw: comment as a statement', () => {
    const result = tokenize('#nvgw: New-NvgwRoutingDomain -RoutingDomainID "{11111111-2222-3333-4444-000000005001}" -Name "Blue"\n# an ordinary comment');
    assert.equal(result.statements.length, 1);
    assert.equal(result.statements[0]?.pragma, true);
    assert.deepEqual(result.statements[0]?.tokens.map(brief).slice(0, 2), ['word:New-NvgwRoutingDomain@1:8', 'param:RoutingDomainID@1:30']);
  });

  it('accepts the typographic dashes and quotes of copy-pasted scripts', () => {
    assert.deepEqual(statements('New-X \u2013CustomerAddress \u201c192.168.1.101\u201d \u2014VMName \u2018hv3\u2019'), [
      ['word:New-X@1:1', 'param:CustomerAddress@1:7', 'string:192.168.1.101@1:24', 'param:VMName@1:40', 'string:hv3@1:48'],
    ]);
  });

  it('reads variables with members, colon-attached values, subexpressions and comma lists', () => {
    assert.deepEqual(statements('New-X -InterfaceIndex $iface.InterfaceIndex -Confirm:$false -Index (Get-NetAdapter "Ethernet 2").ifIndex -CimSession h1, "h2"'), [
      [
        'word:New-X@1:1',
        'param:InterfaceIndex@1:7',
        'variable:iface.InterfaceIndex@1:23',
        'param:Confirm@1:45',
        'param:Index@1:61',
        'subexpr:(Get-NetAdapter "Ethernet 2").ifIndex@1:68',
        'param:CimSession@1:106',
        'word:h1@1:118',
        'comma:,@1:120',
        'string:h2@1:122',
      ],
    ]);
    const attached = tokenize('New-X -Confirm:$false').statements[0]?.tokens[1]?.attached;
    assert.equal(attached && brief(attached), 'variable:false@1:16');
  });

  it('unescapes backticks and doubled quotes, and notes $variables inside double quotes', () => {
    const [token] = tokenize('"a `"b`" ""c"" $name d"').statements[0]!.tokens;
    assert.equal(token?.value, 'a "b" "c" $name d');
    assert.deepEqual(token?.parts, [{ text: 'a "b" "c" ' }, { variable: 'name', raw: '$name', line: 1, col: 16 }, { text: ' d' }]);
    assert.equal(tokenize("'it''s'").statements[0]?.tokens[0]?.value, "it's");
  });

  it('splits statements at ;, pipes, and script-block braces, keeping a braced GUID as a value', () => {
    const result = tokenize('Invoke-Command -ScriptBlock { New-X -RoutingDomainID {11111111-2222-3333-4444-000000005001} }; Get-Y | Remove-Y');
    assert.deepEqual(
      result.statements.map((s) => s.tokens.map((t) => t.value).join(' ')),
      ['Invoke-Command ScriptBlock', 'New-X RoutingDomainID {11111111-2222-3333-4444-000000005001}', 'Get-Y | Remove-Y'],
    );
  });

  it('reports an unclosed string, block comment or parenthesis where it starts', () => {
    assert.deepEqual(tokenize('New-X -VMName "hv3\nNew-Y').errors, [{ line: 1, col: 15, message: 'this quoted string is never closed' }]);
    assert.deepEqual(tokenize('New-X\n  <# never closed').errors, [{ line: 2, col: 3, message: 'block comment "<#" is never closed with "#>"' }]);
    assert.deepEqual(tokenize('New-X -Index (Get-NetAdapter').errors, [{ line: 1, col: 14, message: '"(" is never closed with ")"' }]);
  });
});
