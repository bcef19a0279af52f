/**
 * External networks and how a routing domain reaches them (issue 5): the physical side of
 * the gateway. Modelled after System Center VMM, whose VM network connects to an external
 * logical network either through a NATConnection (with NATRules) or by direct routing:
 *
 *   externalNetworks   an uplink interface (a NIC, a veth, or a VLAN subinterface such as
 *                      eth1.100 that the host's network configuration creates), the gateway's
 *                      address on it and the network's default gateway. Key: interface.
 *   natConnections     a routing domain behind NAT on one external network: SNAT of its CAs to
 *                      an external address or range (shared when another domain's range holds
 *                      the same address, dedicated otherwise), and NAT rules: port forwards
 *                      (external address:port/protocol -> CA:port) and static 1:1 NAT
 *                      (protocol Any: external address <-> CA, every protocol, both ways).
 *                      Key: routingDomainId (one external connection per domain).
 *   routedConnections  a routing domain routed to an external network without NAT: the uplink
 *                      is placed in the domain's table and the domain's prefixes are the
 *                      network's to route. Key: routingDomainId.
 *
 * NAT is IPv4 (RFC 3022 / RFC 4787 style NAPT); the kernel intent is IPv4 as well.
 */
import { ErrorCode, FieldError } from './errors.js';
import * as F from './fields.js';
import type { FieldType } from './fields.js';
import { parseIp } from './ip.js';
import type { ResourceKind } from './resources.js';

export interface ExternalNetwork {
  /** The uplink: a Linux interface nvgw does not own (it adds addresses and routes, never the link). */
  interface: string;
  name: string;
  /** The gateway's own address on the uplink. */
  address: string;
  prefixLength: number;
  /** The external network's router; '' when only the on-link prefix is reachable. */
  defaultGateway: string;
}

export const NatProtocols = ['TCP', 'UDP', 'Any'] as const;
export type NatProtocol = (typeof NatProtocols)[number];

/** VMM's NATRule: a port forward (TCP/UDP), or with protocol Any a static 1:1 mapping. */
export interface NatRule {
  name: string;
  protocol: NatProtocol;
  externalAddress: string;
  /** 1..65535 for TCP/UDP; 0 for Any. */
  externalPort: number;
  /** The CA the rule leads to. */
  internalAddress: string;
  /** 1..65535 for TCP/UDP (defaults to externalPort); 0 for Any. */
  internalPort: number;
}

export interface NatConnection {
  routingDomainId: string;
  name: string;
  /** The external network, by its uplink interface. */
  interface: string;
  /** SNAT addresses: one address or an inclusive range "first-last". */
  externalAddresses: string;
  rules: NatRule[];
}

export interface RoutedConnection {
  routingDomainId: string;
  name: string;
  /** The external network whose uplink joins the domain's table; no other connection may use it. */
  interface: string;
}

/** The external collections of /v1/config. */
export interface ExternalConfig {
  externalNetworks: ExternalNetwork[];
  natConnections: NatConnection[];
  routedConnections: RoutedConnection[];
}

/** A pool may not put more addresses on an uplink than this. */
export const MAX_POOL_SIZE = 256;
/** Rules per NAT connection; a document holds every rule of every domain. */
export const MAX_RULES = 4096;

const describe = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** An IPv4 address as a number, or undefined. */
export function ipv4Number(text: string): number | undefined {
  const ip = parseIp(text);
  return ip?.family === 4 ? Number(ip.value) : undefined;
}

function ipv4Text(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** Why an IPv4 address cannot be a host's unicast address, or undefined when it can. */
function notUnicast(value: number): string | undefined {
  const first = value >>> 24;
  if (value === 0) return 'is the unspecified address';
  if (first === 127) return 'is a loopback address';
  if (first >= 224) return 'is a multicast, reserved or broadcast address';
  if (first === 0) return 'is in 0.0.0.0/8 ("this network")';
  return undefined;
}

/** A unicast IPv4 address in canonical form. */
export const ipv4Unicast: FieldType<string> = {
  parse(value, path) {
    const n = typeof value === 'string' ? ipv4Number(value) : undefined;
    if (n === undefined) return new FieldError(ErrorCode.ValidationFailed, path, `${describe(value)} is not an IPv4 address (NAT and external networks are IPv4)`);
    const problem = notUnicast(n);
    return problem ? new FieldError(ErrorCode.ValidationFailed, path, `${ipv4Text(n)} ${problem}`) : ipv4Text(n);
  },
  schema: { type: 'string', examples: ['203.0.113.10'] },
};

/** A unicast IPv4 address, or '' for none. */
export const optionalIpv4Unicast: FieldType<string> = {
  parse(value, path) {
    return value === '' ? '' : ipv4Unicast.parse(value, path);
  },
  schema: { type: 'string', examples: ['203.0.113.1'] },
};

/** "a.b.c.d" or "a.b.c.d-e.f.g.h" (inclusive, ascending, at most MAX_POOL_SIZE addresses). */
export const ipv4Range: FieldType<string> = {
  parse(value, path) {
    if (typeof value !== 'string') return new FieldError(ErrorCode.ValidationFailed, path, `${describe(value)} is not an IPv4 address or range such as 203.0.113.10-203.0.113.13`);
    const parts = value.split('-').map((p) => p.trim());
    const [firstText, lastText = firstText] = parts;
    const first = parts.length <= 2 && firstText !== undefined ? ipv4Number(firstText) : undefined;
    const last = parts.length <= 2 && lastText !== undefined ? ipv4Number(lastText) : undefined;
    if (first === undefined || last === undefined) {
      return new FieldError(ErrorCode.ValidationFailed, path, `${describe(value)} is not an IPv4 address or range such as 203.0.113.10-203.0.113.13`);
    }
    if (last < first) return new FieldError(ErrorCode.ValidationFailed, path, `the range ${ipv4Text(first)}-${ipv4Text(last)} ends before it starts`);
    if (last - first + 1 > MAX_POOL_SIZE) return new FieldError(ErrorCode.ValidationFailed, path, `the range holds ${last - first + 1} addresses; at most ${MAX_POOL_SIZE}`);
    for (const n of [first, last]) {
      const problem = notUnicast(n);
      if (problem) return new FieldError(ErrorCode.ValidationFailed, path, `${ipv4Text(n)} ${problem}`);
    }
    return first === last ? ipv4Text(first) : `${ipv4Text(first)}-${ipv4Text(last)}`;
  },
  schema: { type: 'string', examples: ['203.0.113.10', '203.0.113.10-203.0.113.13'] },
};

/** First and last address of a canonical range, as numbers. */
export function rangeOf(range: string): { first: number; last: number } {
  const [a, b = a] = range.split('-');
  return { first: ipv4Number(a ?? '') ?? 0, last: ipv4Number(b ?? '') ?? 0 };
}

/** Every address of a canonical range, in order. */
export function addressesOf(range: string): string[] {
  const { first, last } = rangeOf(range);
  const out: string[] = [];
  for (let n = first; n <= last; n++) out.push(ipv4Text(n));
  return out;
}

/** An uplink: a Linux interface name that is not nvgw's own (nvgw* links are tenant interfaces). */
const uplinkName: FieldType<string> = {
  parse(value, path) {
    const parsed = F.interfaceName.parse(value, path);
    if (parsed instanceof FieldError) return parsed;
    if (parsed.startsWith('nvgw')) return new FieldError(ErrorCode.ValidationFailed, path, `${parsed} is an nvgw tenant interface name; an uplink is the host's own interface`);
    if (parsed === 'lo') return new FieldError(ErrorCode.ValidationFailed, path, 'the loopback interface cannot be an uplink');
    return parsed;
  },
  schema: F.interfaceName.schema,
};

const port = F.integer(0, 65535);
const ruleFields = ['name', 'protocol', 'externalAddress', 'externalPort', 'internalAddress', 'internalPort'] as const;

/** TCP, UDP or Any, in any case (scripts write "tcp"). */
const natProtocol: FieldType<NatProtocol> = {
  parse(value, path) {
    const found = typeof value === 'string' ? NatProtocols.find((p) => p.toLowerCase() === value.toLowerCase()) : undefined;
    return found ?? new FieldError(ErrorCode.ValidationFailed, path, `${describe(value)} is not one of ${NatProtocols.join(', ')}`);
  },
  schema: { type: 'string', enum: [...NatProtocols, 'tcp', 'udp', 'any'] },
};

function parseRule(value: unknown, path: string): NatRule | FieldError[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [new FieldError(ErrorCode.ValidationFailed, path, 'a NAT rule must be a JSON object')];
  const body = value as Record<string, unknown>;
  const errors: FieldError[] = [];
  for (const field of Object.keys(body)) {
    if (!(ruleFields as readonly string[]).includes(field)) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, 'unknown field of a NAT rule'));
  }
  /** The field's canonical value; `fallback` when absent (undefined: the field is required). */
  const take = <T>(field: string, type: FieldType<T>, fallback?: T): T | undefined => {
    const raw = body[field];
    if (raw === undefined || raw === null) {
      if (fallback === undefined) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, 'is required'));
      return fallback;
    }
    const parsed = type.parse(raw, `${path}/${field}`);
    if (parsed instanceof FieldError) {
      errors.push(parsed);
      return undefined;
    }
    return parsed;
  };
  const name = take('name', F.text(256), '');
  const protocol = take('protocol', natProtocol);
  const externalAddress = take('externalAddress', ipv4Unicast);
  const internalAddress = take('internalAddress', ipv4Unicast);
  const isStatic = protocol === 'Any';
  const externalPort = take('externalPort', port, isStatic ? 0 : undefined);
  const internalPort = take('internalPort', port, isStatic ? 0 : externalPort);
  if (errors.length > 0) return errors;
  if (isStatic) {
    for (const [field, value] of [['externalPort', externalPort], ['internalPort', internalPort]] as const) {
      if (value !== 0) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, 'a static (protocol Any) mapping takes every port; leave the ports out'));
    }
  } else {
    for (const [field, value] of [['externalPort', externalPort], ['internalPort', internalPort]] as const) {
      if (value === 0) errors.push(new FieldError(ErrorCode.ValidationFailed, `${path}/${field}`, `a ${protocol ?? ''} port forward needs a port 1..65535`));
    }
  }
  if (errors.length > 0) return errors;
  return { name: name!, protocol: protocol!, externalAddress: externalAddress!, externalPort: externalPort!, internalAddress: internalAddress!, internalPort: internalPort! };
}

/** The rules of a NAT connection: a list of NATRule objects, each checked like a field. */
export const natRules: FieldType<NatRule[]> & { parseAll(value: unknown, path: string): NatRule[] | FieldError[] } = {
  parseAll(value, path) {
    if (!Array.isArray(value)) return [new FieldError(ErrorCode.ValidationFailed, path, `must be a list of NAT rules, got ${describe(value)}`)];
    if (value.length > MAX_RULES) return [new FieldError(ErrorCode.ValidationFailed, path, `${value.length} rules; at most ${MAX_RULES} per NAT connection`)];
    const errors: FieldError[] = [];
    const rules: NatRule[] = [];
    value.forEach((raw, index) => {
      const parsed = parseRule(raw, `${path}/${index}`);
      if (Array.isArray(parsed)) errors.push(...parsed);
      else rules.push(parsed);
    });
    return errors.length > 0 ? errors : rules;
  },
  parse(value, path) {
    const parsed = natRules.parseAll(value, path);
    // One field, one FieldError: the first problem; finish() never sees a half-parsed list.
    return Array.isArray(parsed) && parsed[0] instanceof FieldError ? parsed[0] : (parsed as NatRule[]);
  },
  schema: {
    type: 'array',
    maxItems: MAX_RULES,
    items: {
      type: 'object',
      additionalProperties: false,
      required: ['protocol', 'externalAddress', 'internalAddress'],
      properties: {
        name: { type: 'string', maxLength: 256, description: 'Display name (VMM NATRule Name)' },
        protocol: { ...natProtocol.schema, description: 'TCP or UDP: a port forward; Any: static 1:1 NAT of every protocol and port' },
        externalAddress: { type: 'string', description: 'The external address (IPv4)' },
        // Ports in canonical form; the parser also takes them as strings, as everywhere in this API.
        externalPort: { type: 'integer', minimum: 0, maximum: 65535, description: 'External port (TCP/UDP); 0 or absent for Any' },
        internalAddress: { type: 'string', description: 'The customer address (CA) the rule leads to' },
        internalPort: { type: 'integer', minimum: 0, maximum: 65535, description: 'Port on the CA; defaults to externalPort; 0 or absent for Any' },
      },
    },
  },
};

/** Problems among the rules of one connection (against each other and its own pool). */
function checkOwnRules(item: NatConnection, path: string): FieldError[] {
  const errors: FieldError[] = [];
  const at = (i: number, field: string) => `${path}/rules/${i}/${field}`;
  const pool = rangeOf(item.externalAddresses);
  const forwards = new Map<string, number>();
  const statics = new Map<string, number>();
  const staticCas = new Map<string, number>();
  item.rules.forEach((rule, i) => {
    if (rule.protocol === 'Any') {
      const previous = statics.get(rule.externalAddress);
      if (previous !== undefined) errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at(i, 'externalAddress'), `${rule.externalAddress} is already mapped by rules/${previous}`));
      statics.set(rule.externalAddress, i);
      const n = ipv4Number(rule.externalAddress) ?? -1;
      if (n >= pool.first && n <= pool.last) {
        errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at(i, 'externalAddress'), `${rule.externalAddress} is in this connection's SNAT addresses ${item.externalAddresses}; a static mapping needs an address of its own`));
      }
      const ca = staticCas.get(rule.internalAddress);
      if (ca !== undefined) errors.push(new FieldError(ErrorCode.InternalAddressInUse, at(i, 'internalAddress'), `${rule.internalAddress} already has a static mapping (rules/${ca})`));
      staticCas.set(rule.internalAddress, i);
    } else {
      const tuple = `${rule.externalAddress}|${rule.protocol}|${rule.externalPort}`;
      const previous = forwards.get(tuple);
      if (previous !== undefined) {
        errors.push(new FieldError(ErrorCode.ExternalPortInUse, at(i, 'externalPort'), `${rule.protocol} ${rule.externalAddress}:${rule.externalPort} is already forwarded by rules/${previous}`));
      }
      forwards.set(tuple, i);
    }
  });
  item.rules.forEach((rule, i) => {
    if (rule.protocol === 'Any') return;
    const s = statics.get(rule.externalAddress);
    if (s !== undefined) errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at(i, 'externalAddress'), `${rule.externalAddress} is statically mapped by rules/${s}, which takes every port`));
    const c = staticCas.get(rule.internalAddress);
    if (c !== undefined) errors.push(new FieldError(ErrorCode.InternalAddressInUse, at(i, 'internalAddress'), `${rule.internalAddress} has a static mapping (rules/${c}), which already forwards every port`));
  });
  return errors;
}

export const externalNetworks: ResourceKind<'externalNetworks'> = {
  name: 'externalNetworks',
  singular: 'external network',
  path: 'external-networks',
  keyFields: ['interface'],
  fields: {
    interface: { type: uplinkName, description: 'Uplink interface: a NIC, a veth or a VLAN subinterface such as eth1.100 (created by the host, not by nvgw)' },
    name: { type: F.text(256), default: '', description: 'Display name' },
    address: { type: ipv4Unicast, description: "The gateway's own IPv4 address on the uplink" },
    prefixLength: { type: F.integer(1, 32), description: 'Prefix length of the uplink subnet' },
    defaultGateway: { type: optionalIpv4Unicast, default: '', description: "The external network's router, inside the uplink subnet; empty for none" },
  },
  finish(item, path) {
    const at = (field: string) => `${path}/${field}`;
    if (item.defaultGateway === '') return [];
    const mask = item.prefixLength === 0 ? 0 : (0xffffffff << (32 - item.prefixLength)) >>> 0;
    const own = ipv4Number(item.address) ?? 0;
    const hop = ipv4Number(item.defaultGateway) ?? 0;
    if (((own & mask) >>> 0) !== ((hop & mask) >>> 0)) {
      return [new FieldError(ErrorCode.ValidationFailed, at('defaultGateway'), `${item.defaultGateway} is not inside the uplink subnet ${item.address}/${item.prefixLength}`)];
    }
    if (hop === own) return [new FieldError(ErrorCode.ValidationFailed, at('defaultGateway'), "the default gateway cannot be the gateway's own address")];
    return [];
  },
};

export const natConnections: ResourceKind<'natConnections'> = {
  name: 'natConnections',
  singular: 'NAT connection',
  path: 'nat-connections',
  keyFields: ['routingDomainId'],
  fields: {
    routingDomainId: { type: F.guid, description: 'The routing domain behind NAT (one external connection per domain)' },
    name: { type: F.text(256), default: '', description: 'Display name (VMM NATConnection Name)' },
    interface: { type: uplinkName, description: 'The external network, by its uplink interface' },
    externalAddresses: { type: ipv4Range, description: 'SNAT address or inclusive range; shared when another NAT connection uses it too' },
    rules: { type: natRules, default: [], description: 'NAT rules (VMM NATRule): TCP/UDP port forwards, or protocol Any for static 1:1 NAT' },
  },
  finish(item, path) {
    return checkOwnRules(item, path);
  },
};

export const routedConnections: ResourceKind<'routedConnections'> = {
  name: 'routedConnections',
  singular: 'routed connection',
  path: 'routed-connections',
  keyFields: ['routingDomainId'],
  fields: {
    routingDomainId: { type: F.guid, description: 'The routing domain routed without NAT (one external connection per domain)' },
    name: { type: F.text(256), default: '', description: 'Display name' },
    interface: { type: uplinkName, description: "The external network whose uplink joins the domain's table; used by no other connection" },
  },
};
