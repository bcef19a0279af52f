/**
 * Compiles an HNV PowerShell script into operations on the gateway's resources, without
 * looking at any gateway: statements are classified (HNV cmdlet, literal assignment,
 * skipped), parameters bound the way PowerShell binds them, and every value parsed into
 * the API's canonical form. Any problem is an error at its line and column, and a script
 * with errors is never applied (see run.ts).
 */
import type { Parsed } from '../client/canonical.js';
import { INTERFACE_NAME, ipFamily, isUnspecifiedIp, parseGuid, parseIpAddress, parseIpPrefix, parseMac, parseUnsigned, parseVsid } from '../client/canonical.js';
import type { AnyItem, KindName } from '../client/types.js';
import { RESOURCES, TRANSLATION_RULES } from '../client/types.js';
import type { CmdletRef, ParamSpec, ValueType } from './cmdlets.js';
import { findCmdlet, isOtherNetVirtualizationCmdlet, paramsOf, resolveParam } from './cmdlets.js';
import type { Position, Statement, Token } from './tokenizer.js';
import { tokenize } from './tokenizer.js';

export interface ScriptProblem extends Position {
  message: string;
}

export interface SkippedStatement {
  line: number;
  text: string;
  reason: string;
}

/**
 * Where -CimSession hosts and -InterfaceIndex values go. From an optional JSON map file:
 *   { "interfaces": { "$iface.InterfaceIndex": "eth1", "12": "eth1" },
 *     "cimSessions": { "ml110g6-01": null, "gw01": true, "*": null } }
 * A cimSessions value is a gateway URL, true for the gateway nvgwctl talks to, or null
 * for a host that is not a gateway (its lines are skipped); "*" matches any other host.
 */
export interface HnvMap {
  interfaces?: Record<string, string>;
  cimSessions?: Record<string, string | boolean | null>;
}

export interface CompileOptions {
  /** The gateway nvgwctl talks to (--url): the target of lines without -CimSession. */
  defaultTarget: string;
  /** --interface: the gateway interface for every -InterfaceIndex the map does not name. */
  interfaceName?: string;
  map?: HnvMap;
}

/** Where an operation came from: the statement, and each API field's value. */
export interface Origin extends Position {
  text: string;
  cmdlet: string;
  fields: Record<string, Position>;
}

export interface Filter {
  field: string;
  param: string;
  values: (string | number | boolean)[];
  patterns: RegExp[];
}

export type Operation =
  | { op: 'new'; ref: CmdletRef; item: AnyItem; origin: Origin; targets: string[] }
  | { op: 'get'; ref: CmdletRef; filters: Filter[]; origin: Origin; targets: string[]; show: boolean }
  | { op: 'remove'; ref: CmdletRef; filters: Filter[]; origin: Origin; targets: string[]; passThru: boolean }
  | { op: 'set'; ref: CmdletRef; filters: Filter[]; changes: Record<string, unknown>; origin: Origin; targets: string[]; passThru: boolean };

export interface CompiledScript {
  operations: Operation[];
  skipped: SkippedStatement[];
  notes: ScriptProblem[];
  errors: ScriptProblem[];
  /** Every gateway some operation applies to (URLs). */
  targets: string[];
}

type Value =
  | { kind: 'text'; text: string; at: Position }
  | { kind: 'bool'; value: boolean; at: Position }
  | { kind: 'null'; at: Position }
  /** A value the script computes at run time ($iface.InterfaceIndex, (Get-NetAdapter …).ifIndex). */
  | { kind: 'opaque'; raw: string; at: Position }
  /** A comma list from a literal assignment ($hosts = "h1", "h2"). */
  | { kind: 'list'; items: Value[]; at: Position };

interface Bound {
  spec: ParamSpec;
  param: Token;
  values: Value[];
}

/**
 * In an assignment a bare word is a command (`$cred = Get-Credential`); only numbers and
 * number-like values (5001, 10.1.1.20, 192.168.1.0/24) and braced GUIDs are literals.
 */
const LITERAL_WORD = /^([0-9][0-9A-Za-z.:/-]*|\{[0-9A-Fa-f-]{36}\})$/;

/** Longest text the API takes per field (vmName, context, name). */
const TEXT_LIMITS = new Map(
  Object.values(RESOURCES).flatMap((info) => Object.entries(info.fields as Record<string, { maxLength?: number }>).flatMap(([field, f]) => (f.maxLength ? [[field, f.maxLength] as const] : []))),
);

export function compileScript(source: string, options: CompileOptions): CompiledScript {
  return new Compiler(options).compile(source);
}

/** First line of a statement, shortened, for "skipped" reports. */
function summary(text: string): string {
  const first = text.split('\n')[0]!.trim();
  const more = text.includes('\n') || first.length > 72;
  return more ? `${first.slice(0, 72).trimEnd()} …` : first;
}

class Compiler {
  private readonly operations: Operation[] = [];
  private readonly skipped: SkippedStatement[] = [];
  private readonly notes: ScriptProblem[] = [];
  private readonly errors: ScriptProblem[] = [];
  private readonly variables = new Map<string, Value>();
  private readonly targets = new Set<string>();
  private readonly saidOnce = new Set<string>();
  /** For the notes at the end: which raw -InterfaceIndex went where, on which lines. */
  private readonly interfaceUses = new Map<string, { name: string; how: string; lines: number[] }>();
  private readonly ignoredHosts = new Map<string, number[]>();
  private readonly skippedHosts = new Map<string, number[]>();

  constructor(private readonly options: CompileOptions) {}

  compile(source: string): CompiledScript {
    const lexed = tokenize(source);
    this.errors.push(...lexed.errors);
    this.notes.push(...lexed.notes);
    for (const statement of lexed.statements) this.statement(statement);
    this.closingNotes();
    this.errors.sort((a, b) => a.line - b.line || a.col - b.col);
    this.notes.sort((a, b) => a.line - b.line || a.col - b.col);
    return { operations: this.operations, skipped: this.skipped, notes: this.notes, errors: this.errors, targets: [...this.targets] };
  }

  private error(at: Position, message: string): void {
    this.errors.push({ line: at.line, col: at.col, message });
  }

  private note(at: Position, message: string): void {
    this.notes.push({ line: at.line, col: at.col, message });
  }

  private noteOnce(key: string, at: Position, message: string): void {
    if (this.saidOnce.has(key)) return;
    this.saidOnce.add(key);
    this.note(at, message);
  }

  /** Reported per line: `Invoke-Command … { Enable-NetAdapterBinding … }` is one skipped line. */
  private skip(statement: Statement, reason: string): void {
    if (this.skipped.at(-1)?.line === statement.line) return;
    this.skipped.push({ line: statement.line, text: summary(statement.text), reason });
  }

  private statement(statement: Statement): void {
    const [first, second] = statement.tokens;
    if (!first) return;
    if (first.kind === 'variable' && second?.kind === 'word' && second.value.startsWith('=') && !second.value.startsWith('==')) {
      this.assignment(statement, first, second);
      return;
    }
    if (first.kind === 'word') {
      const ref = findCmdlet(first.value, statement.pragma);
      if (ref) {
        this.command(statement, ref, statement.tokens, true);
        return;
      }
      if (isOtherNetVirtualizationCmdlet(first.value)) {
        this.skip(statement, `nvgw has no equivalent of ${first.value}`);
        return;
      }
    }
    if (statement.pragma) {
      this.note(statement, 'this #nvgw: comment names no command nvgw knows; ignored');
      return;
    }
    this.skip(statement, 'not a network-virtualization cmdlet');
  }

  /** `$vsid = 5001` is remembered; `$cred = Get-Credential` is skipped and $cred stays unknown. */
  private assignment(statement: Statement, target: Token, equals: Token): void {
    const name = target.value.toLowerCase();
    const rest = statement.tokens.slice(2);
    if (equals.value.length > 1) rest.unshift({ ...equals, kind: 'word', value: equals.value.slice(1), raw: equals.raw.slice(1), col: equals.col + 1 });
    const head = rest[0];
    if (head?.kind === 'word') {
      const ref = findCmdlet(head.value, statement.pragma);
      if (ref) {
        this.variables.set(name, { kind: 'opaque', raw: target.raw, at: target });
        this.command(statement, ref, rest, false);
        return;
      }
    }
    // A literal, or a comma list of literals: value (, value)*
    const literals = rest.filter((_, i) => i % 2 === 0);
    const shapeOk = rest.length % 2 === 1 && rest.every((t, i) => (i % 2 === 1 ? t.kind === 'comma' : t.kind !== 'param' && t.kind !== 'comma' && t.kind !== 'pipe'));
    if (shapeOk && !target.value.includes('.')) {
      const values = literals.map((t) => this.evaluate(t));
      const literal = literals.every((t) => t.kind !== 'word' || LITERAL_WORD.test(t.value)) && values.every((v) => v.kind !== 'opaque' && v.kind !== 'list');
      if (literal) {
        this.variables.set(name, values.length === 1 ? values[0]! : { kind: 'list', items: values, at: target });
        return;
      }
    }
    this.variables.set(name, { kind: 'opaque', raw: target.raw, at: target });
    this.skip(statement, 'not a network-virtualization cmdlet');
  }

  private evaluate(token: Token): Value {
    const at = { line: token.line, col: token.col };
    switch (token.kind) {
      case 'word':
        return { kind: 'text', text: token.value, at };
      case 'string': {
        if (!token.parts) return { kind: 'text', text: token.value, at };
        let text = '';
        for (const part of token.parts) {
          if ('text' in part) {
            text += part.text;
            continue;
          }
          const value = part.variable ? this.variable(part.variable, at) : undefined;
          if (!value || value.kind === 'opaque') return { kind: 'opaque', raw: token.raw, at };
          text += valueText(value);
        }
        return { kind: 'text', text, at };
      }
      case 'variable':
        return this.variable(token.value, at) ?? { kind: 'opaque', raw: token.raw, at };
      default:
        return { kind: 'opaque', raw: token.raw, at };
    }
  }

  private variable(name: string, at: Position): Value | undefined {
    const lower = name.toLowerCase();
    if (lower === 'true') return { kind: 'bool', value: true, at };
    if (lower === 'false') return { kind: 'bool', value: false, at };
    if (lower === 'null') return { kind: 'null', at };
    const value = this.variables.get(lower);
    return value && value.kind !== 'opaque' ? { ...value, at } : undefined;
  }

  private command(statement: Statement, ref: CmdletRef, tokens: Token[], show: boolean): void {
    const stages: Token[][] = [[]];
    for (const token of tokens) {
      if (token.kind === 'pipe') stages.push([]);
      else if (token.kind === 'op') this.error(token, `"${token.value}" is not supported in an HNV command line`);
      else stages.at(-1)!.push(token);
    }
    const [head, ...pipeline] = stages;
    const nameToken = head![0]!;
    const before = this.errors.length;
    let bound = this.bind(ref, head!.slice(1));
    let verb = ref.verb;
    let finalRef = ref;
    let changeBound: Map<string, Bound> | undefined;
    for (const stage of pipeline) {
      const first = stage[0];
      if (!first) {
        this.error(nameToken, 'empty pipeline stage');
        continue;
      }
      const stageRef = first.kind === 'word' ? findCmdlet(first.value, statement.pragma) : undefined;
      if (stageRef) {
        if (stageRef.noun !== ref.noun || verb !== 'Get' || (stageRef.verb !== 'Remove' && stageRef.verb !== 'Set')) {
          this.error(first, `nvgw runs "Get-X … | Remove-X" and "Get-X … | Set-X", not "${ref.name} | ${stageRef.name}"`);
          continue;
        }
        verb = stageRef.verb;
        finalRef = stageRef;
        changeBound = this.bind(stageRef, stage.slice(1), true);
        continue;
      }
      const stageName = first.kind === 'word' ? first.value.toLowerCase() : '';
      if (stageName === 'out-null') show = false;
      else if (stageName === 'format-list' || stageName === 'fl' || stageName === 'out-default' || stageName === 'out-host') continue;
      else this.note(first, `"| ${first.raw}" is not run by nvgw${verb === 'Get' ? '; Get- output is shown in Format-List layout' : ''}`);
    }
    if (this.errors.length > before) return;
    const origin: Origin = { line: statement.line, col: statement.col, text: summary(statement.text), cmdlet: finalRef.name, fields: {} };
    const all = new Map([...bound, ...(changeBound ?? [])]);
    for (const b of all.values()) if (b.spec.note) this.noteOnce(`param:${b.spec.name}`, b.param, b.spec.note);
    const whatIf = all.get('WhatIf');
    if (whatIf && this.switchValue(whatIf)) {
      this.note(nameToken, `-WhatIf: ${finalRef.name} is not applied`);
      return;
    }
    const targets = this.targetsOf(bound.get('CimSession'), statement);
    if (targets === undefined) return;
    if (targets.length === 0) return; // every host it names is not a gateway (noted)
    const passThruParam = all.get('PassThru');
    // -PassThru prints what changed, unless the pipeline ends in Out-Null or assigns it.
    const passThru = show && passThruParam !== undefined && this.switchValue(passThruParam);
    if (verb === 'New') {
      const item = this.newItem(ref, bound, nameToken, origin);
      if (item) this.operations.push({ op: 'new', ref, item, origin, targets });
      return;
    }
    if (verb === 'Set' && changeBound === undefined) {
      // Set-X -Selector … -Property …: split its own parameters.
      const selectors = new Map<string, Bound>();
      changeBound = new Map();
      for (const [name, b] of bound) (ref.noun.selectors.includes(name) || !b.spec.field ? selectors : changeBound).set(name, b);
      bound = selectors;
    }
    const filters = this.filters(bound, origin);
    if (filters === undefined) return;
    if (verb === 'Get') {
      this.operations.push({ op: 'get', ref, filters, origin, targets, show });
    } else if (verb === 'Remove') {
      this.operations.push({ op: 'remove', ref: finalRef, filters, origin, targets, passThru });
    } else {
      const changes = this.changes(finalRef, changeBound!, origin);
      if (!changes) return;
      if (Object.keys(changes).length === 0) {
        this.error(nameToken, `${finalRef.name} names nothing to change`);
        return;
      }
      this.operations.push({ op: 'set', ref: finalRef, filters, changes, origin, targets, passThru });
    }
  }

  private switchValue(b: Bound): boolean {
    const v = b.values[0];
    return v === undefined || (v.kind === 'bool' ? v.value : v.kind === 'text' ? /^(true|1)$/i.test(v.text) : true);
  }

  /** PowerShell parameter binding: named parameters only, each once, values as comma lists. */
  private bind(ref: CmdletRef, tokens: Token[], pipelineStage = false): Map<string, Bound> {
    const accepted = pipelineStage ? paramsOf(ref).filter((p) => !p.field || ref.verb === 'Set') : paramsOf(ref);
    const bound = new Map<string, Bound>();
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i]!;
      if (token.kind !== 'param') {
        if (token.kind === 'comma') this.error(token, 'a "," here belongs to no parameter');
        else {
          const hint = /["'\u2018-\u201e]/.test(token.raw) ? '; is a quote missing or extra earlier on this line?' : '';
          this.error(token, `${token.raw} has no parameter name; nvgw runs ${ref.name} with named parameters only (-Name value)${hint}`);
        }
        continue;
      }
      const resolved = resolveParam(accepted, token.value);
      if (resolved === undefined) {
        const known = accepted.filter((p) => p.field || p.name === 'CimSession').map((p) => `-${p.name}`);
        this.error(token, `${ref.name} has no parameter -${token.value}; it takes ${known.join(', ')}`);
        if (!token.attached) i = this.skipValues(tokens, i);
        continue;
      }
      if (Array.isArray(resolved)) {
        this.error(token, `-${token.value} is ambiguous for ${ref.name}: ${resolved.map((p) => `-${p.name}`).join(', ')}`);
        if (!token.attached) i = this.skipValues(tokens, i);
        continue;
      }
      const spec = resolved;
      const earlier = bound.get(spec.name);
      if (earlier) {
        this.error(token, `-${spec.name} is given twice (also at column ${earlier.param.col})`);
        if (!token.attached && spec.type !== 'switch') i = this.skipValues(tokens, i);
        continue;
      }
      const valueTokens: Token[] = [];
      if (token.attached) valueTokens.push(token.attached);
      else if (spec.type !== 'switch') {
        const next = tokens[i + 1];
        if (!next || next.kind === 'param' || next.kind === 'comma') {
          this.error(token, `-${spec.name} needs a value`);
          continue;
        }
        valueTokens.push(next);
        i++;
      }
      if (spec.type !== 'switch' || token.attached) {
        while (tokens[i + 1]?.kind === 'comma') {
          const item = tokens[i + 2];
          if (!item || item.kind === 'param' || item.kind === 'comma') {
            this.error(tokens[i + 1]!, `the list of -${spec.name} ends with ","`);
            i++;
            break;
          }
          valueTokens.push(item);
          i += 2;
        }
      }
      const values = valueTokens.flatMap((t) => {
        const v = this.evaluate(t);
        return v.kind === 'list' ? v.items.map((item) => ({ ...item, at: v.at })) : [v];
      });
      bound.set(spec.name, { spec, param: token, values });
    }
    return bound;
  }

  private skipValues(tokens: Token[], i: number): number {
    let j = i;
    if (tokens[j + 1] && tokens[j + 1]!.kind !== 'param') j++;
    while (tokens[j + 1]?.kind === 'comma' && tokens[j + 2]) j += 2;
    return j;
  }

  private single(b: Bound, cmdlet: string): Value | undefined {
    if (b.values.length !== 1) {
      this.error(b.values[1] ? b.values[1].at : b.param, `-${b.spec.name} of ${cmdlet} takes one value, not a list`);
      return undefined;
    }
    return b.values[0];
  }

  private newItem(ref: CmdletRef, bound: Map<string, Bound>, nameToken: Token, origin: Origin): AnyItem | undefined {
    const kind = ref.noun.kind;
    const info = RESOURCES[kind];
    const item: Record<string, unknown> = {};
    for (const [field, spec] of Object.entries(info.fields) as [string, { default?: unknown }][]) if (spec.default !== undefined) item[field] = spec.default;
    let ok = true;
    for (const need of ref.noun.required) {
      const names = need.split('|');
      if (!names.some((n) => bound.has(n))) {
        this.error(nameToken, `${ref.name} needs ${names.map((n) => `-${n}`).join(' or ')}`);
        ok = false;
      }
    }
    for (const b of bound.values()) {
      if (!b.spec.field) continue;
      const value = this.single(b, ref.name);
      if (!value) {
        ok = false;
        continue;
      }
      const converted = this.convert(b.spec, value);
      if (converted === undefined) {
        ok = false;
        continue;
      }
      if (Object.hasOwn(origin.fields, b.spec.field)) {
        this.error(b.param, `-${b.spec.name} and another parameter both set the ${b.spec.field}`);
        ok = false;
        continue;
      }
      item[b.spec.field] = converted;
      origin.fields[b.spec.field] = value.at;
    }
    if (!ok) return undefined;
    return this.finish(kind, item, origin) ? (item as unknown as AnyItem) : undefined;
  }

  /** The checks a field cannot make alone (the API makes them too; here they get a line and column). */
  private finish(kind: KindName, item: Record<string, unknown>, origin: Origin): boolean {
    const at = (field: string): Position => origin.fields[field] ?? origin;
    const sameFamily = (hop: string, prefix: string) => ipFamily(hop) === ipFamily(prefix);
    if ((kind === 'customerRoutes' || kind === 'providerRoutes') && typeof item.nextHop === 'string' && item.nextHop !== '') {
      if (!sameFamily(item.nextHop, String(item.destinationPrefix))) {
        this.error(at('nextHop'), `next hop ${item.nextHop} is not of the same address family as ${String(item.destinationPrefix)}`);
        return false;
      }
    }
    if ((kind === 'lookupRecords' || kind === 'providerAddresses') && typeof item.providerAddress === 'string' && isUnspecifiedIp(item.providerAddress)) {
      this.error(at('providerAddress'), 'the provider address cannot be unspecified');
      return false;
    }
    if (kind === 'providerAddresses' && ipFamily(String(item.providerAddress)) === 4 && Number(item.prefixLength) > 32) {
      this.error(at('prefixLength'), `${String(item.prefixLength)} is longer than an IPv4 address`);
      return false;
    }
    return true;
  }

  private filters(bound: Map<string, Bound>, origin: Origin): Filter[] | undefined {
    const filters: Filter[] = [];
    let ok = true;
    for (const b of bound.values()) {
      if (!b.spec.field) continue;
      const filter: Filter = { field: b.spec.field, param: b.spec.name, values: [], patterns: [] };
      for (const value of b.values) {
        if (value.kind === 'text' && /[*?]/.test(value.text) && b.spec.type !== 'interface') {
          const escaped = value.text.replace(/[.+^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*').replaceAll('?', '.');
          filter.patterns.push(new RegExp(`^${escaped}$`, 'i'));
          continue;
        }
        const converted = this.convert(b.spec, value);
        if (converted === undefined) ok = false;
        else filter.values.push(converted);
      }
      origin.fields[b.spec.field] = b.values[0]?.at ?? b.param;
      filters.push(filter);
    }
    return ok ? filters : undefined;
  }

  private changes(ref: CmdletRef, bound: Map<string, Bound>, origin: Origin): Record<string, unknown> | undefined {
    const changes: Record<string, unknown> = {};
    let ok = true;
    for (const b of bound.values()) {
      if (!b.spec.field) continue;
      if ((RESOURCES[ref.noun.kind].keyFields as readonly string[]).includes(b.spec.field)) {
        this.error(b.param, `${ref.name} cannot change -${b.spec.name}: it names the ${ref.noun.singular}; Remove- it and New- it instead`);
        ok = false;
        continue;
      }
      const value = this.single(b, ref.name);
      const converted = value && this.convert(b.spec, value);
      if (value === undefined || converted === undefined) {
        ok = false;
        continue;
      }
      changes[b.spec.field] = converted;
      origin.fields[b.spec.field] = value.at;
    }
    return ok ? changes : undefined;
  }

  /** -CimSession → the gateways this line applies to; undefined after an error. */
  private targetsOf(b: Bound | undefined, statement: Statement): string[] | undefined {
    const fallback = this.options.defaultTarget;
    if (!b) {
      this.targets.add(fallback);
      return [fallback];
    }
    const map = this.options.map?.cimSessions;
    const out = new Set<string>();
    for (const value of b.values) {
      const host = value.kind === 'text' ? value.text : value.kind === 'opaque' ? value.raw : '';
      if (!map) {
        const lines = this.ignoredHosts.get(host) ?? [];
        if (!lines.includes(statement.line)) lines.push(statement.line);
        this.ignoredHosts.set(host, lines);
        out.add(fallback);
        continue;
      }
      if (value.kind !== 'text') {
        this.error(value.at, `-CimSession ${host}: nvgw cannot tell which host this is; write the host name, or run without a map file`);
        return undefined;
      }
      const entry = Object.entries(map).find(([name]) => name.toLowerCase() === host.toLowerCase()) ?? Object.entries(map).find(([name]) => name === '*');
      if (!entry) {
        this.error(value.at, `-CimSession "${host}" is not in the map file's "cimSessions" (give it a gateway URL, true for ${fallback}, or null if it is not a gateway)`);
        return undefined;
      }
      const target = entry[1];
      if (target === null || target === false) {
        const lines = this.skippedHosts.get(host) ?? [];
        lines.push(statement.line);
        this.skippedHosts.set(host, lines);
        continue;
      }
      out.add(target === true ? fallback : target.replace(/\/+$/, ''));
    }
    for (const t of out) this.targets.add(t);
    return [...out];
  }

  /** Converts one value to the API's canonical form, or reports why not at the value. */
  private convert(spec: ParamSpec, value: Value): string | number | boolean | undefined {
    const type: ValueType = spec.type;
    if (type === 'ignored' || type === 'cimSession' || type === 'switch') return '';
    if (type === 'interface') return this.interfaceOf(spec, value);
    if (type === 'bool') {
      if (value.kind === 'bool') return value.value;
      if (value.kind === 'text' && /^(true|false|1|0)$/i.test(value.text)) return /^(true|1)$/i.test(value.text);
      this.error(value.at, `-${spec.name} takes $true or $false`);
      return undefined;
    }
    if (value.kind === 'opaque') {
      this.error(value.at, `-${spec.name} ${value.raw}: nvgw cannot evaluate this; write the value, or set the variable earlier with a literal ($name = "value")`);
      return undefined;
    }
    if (value.kind === 'list') {
      this.error(value.at, `-${spec.name} takes one value, not a list`);
      return undefined;
    }
    if (value.kind === 'null') {
      if (type === 'text' || type === 'optionalGuid') return '';
      this.error(value.at, `-${spec.name} cannot be $null`);
      return undefined;
    }
    const text = value.kind === 'bool' ? (value.value ? 'True' : 'False') : value.text;
    let parsed: Parsed<string | number>;
    switch (type) {
      case 'vsid':
        parsed = parseVsid(text);
        break;
      case 'guid':
        parsed = parseGuid(text);
        break;
      case 'optionalGuid':
        parsed = text === '' ? { ok: true, value: '' } : parseGuid(text);
        break;
      case 'ip':
        parsed = parseIpAddress(text);
        break;
      case 'prefix':
        parsed = parseIpPrefix(text);
        break;
      case 'mac':
        parsed = parseMac(text);
        break;
      case 'metric':
        parsed = parseUnsigned(text, 0, 0xffffffff, 'Metric');
        break;
      case 'prefixLength':
        parsed = parseUnsigned(text, 0, 128, 'PrefixLength');
        break;
      case 'vlan':
        parsed = parseUnsigned(text, 0, 4094, 'VlanID');
        break;
      case 'rule': {
        const rule = TRANSLATION_RULES.find((r) => r.toLowerCase() === text.toLowerCase());
        parsed = rule ? { ok: true, value: rule } : { ok: false, problem: `-Rule "${text}" is not one nvgw runs; use ${TRANSLATION_RULES.join(' or ')}` };
        break;
      }
      case 'text': {
        const max = (spec.field !== undefined ? TEXT_LIMITS.get(spec.field) : undefined) ?? 256;
        parsed = text.length > max || hasControlCharacter(text) ? { ok: false, problem: `-${spec.name} must be one line of at most ${max} characters` } : { ok: true, value: text };
        break;
      }
    }
    if (!parsed.ok) {
      this.error(value.at, parsed.problem);
      return undefined;
    }
    return parsed.value;
  }

  /**
   * -InterfaceIndex/-InterfaceAlias name a Windows interface; the gateway needs its own
   * Linux interface: the map file's "interfaces" entry for the value as written, then
   * --interface, then (for a literal alias) the alias itself.
   */
  private interfaceOf(spec: ParamSpec, value: Value): string | undefined {
    const raw = value.kind === 'text' ? value.text : value.kind === 'opaque' ? value.raw : value.kind === 'bool' ? String(value.value) : '';
    if (value.kind === 'list') {
      this.error(value.at, `-${spec.name} takes one value, not a list`);
      return undefined;
    }
    const mapped = Object.entries(this.options.map?.interfaces ?? {}).find(([k]) => k.toLowerCase() === raw.toLowerCase());
    let name: string | undefined;
    let how: string;
    if (mapped) {
      name = mapped[1];
      how = 'the map file';
    } else if (this.options.interfaceName !== undefined) {
      name = this.options.interfaceName;
      how = '--interface';
    } else if (spec.name === 'InterfaceAlias' && value.kind === 'text' && INTERFACE_NAME.test(raw)) {
      name = raw;
      how = 'its name';
    } else {
      this.error(value.at, `-${spec.name} ${raw}: nvgw cannot tell which gateway interface this is; pass --interface NAME, or map "${raw}" in the map file's "interfaces"`);
      return undefined;
    }
    if (!INTERFACE_NAME.test(name)) {
      this.error(value.at, `-${spec.name} ${raw} maps to "${name}", which is not a Linux interface name`);
      return undefined;
    }
    if (how !== 'its name') {
      const key = `-${spec.name} ${raw}`;
      const use = this.interfaceUses.get(key) ?? { name, how, lines: [] };
      if (!use.lines.includes(value.at.line)) use.lines.push(value.at.line);
      this.interfaceUses.set(key, use);
    }
    return name;
  }

  private closingNotes(): void {
    const start = { line: 0, col: 0 };
    for (const [written, use] of this.interfaceUses) {
      this.note(start, `${written} (${listLines(use.lines)}) is taken as gateway interface ${use.name} (${use.how})`);
    }
    if (this.ignoredHosts.size > 0) {
      const hosts = [...this.ignoredHosts].map(([host, lines]) => `${host} (${listLines(lines)})`).join(', ');
      this.note(start, `-CimSession ignored without a map file: ${hosts}; every line configures ${this.options.defaultTarget}`);
    }
    for (const [host, lines] of this.skippedHosts) {
      this.note(start, `-CimSession ${host} is not a gateway in the map file: ${listLines(lines)} not applied there`);
    }
  }
}

/** How PowerShell writes a value into a string: lists joined with spaces. */
function valueText(value: Value): string {
  if (value.kind === 'text') return value.text;
  if (value.kind === 'bool') return value.value ? 'True' : 'False';
  if (value.kind === 'list') return value.items.map(valueText).join(' ');
  return '';
}

function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) < 0x20) return true;
  return false;
}

/** "line 3", "lines 3, 5-7, 9" */
export function listLines(lines: number[]): string {
  const sorted = [...new Set(lines)].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    out.push(j > i ? `${sorted[i]}-${sorted[j]}` : `${sorted[i]}`);
    i = j + 1;
  }
  return `${sorted.length === 1 ? 'line' : 'lines'} ${out.join(', ')}`;
}
