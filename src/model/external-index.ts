/**
 * The consistency rules of external networks and their connections, and the indexes they
 * need, kept beside DesiredState (which owns the objects and calls in here). Pure and
 * in-memory like the rest of the model.
 *
 * The rules (codes in errors.ts, statuses in api/errors.ts):
 * - a connection's routing domain and external network exist             UNKNOWN_REFERENCE
 * - a routing domain has one external connection, NAT or routed          DOMAIN_ALREADY_CONNECTED
 * - a routed connection has its external network to itself               EXTERNAL_NETWORK_IN_USE
 * - a static (1:1) external address belongs to that mapping alone: no
 *   other rule, SNAT range or uplink address holds it                    EXTERNAL_ADDRESS_IN_USE
 * - one port forward per external address, protocol and port            EXTERNAL_PORT_IN_USE
 * - no port forward to a CA that has a static mapping (it has every port) INTERNAL_ADDRESS_IN_USE
 * - an interface is a provider (fabric) interface or an uplink, not both  INTERFACE_IN_USE
 * SNAT ranges may overlap freely: that is how domains share an external address.
 */
import { ErrorCode, FieldError } from './errors.js';
import type { ExternalNetwork, NatConnection, RoutedConnection } from './external.js';
import { addressesOf, ipv4Number, rangeOf } from './external.js';
import type { AnyItem, KindName, ProviderAddress } from './resources.js';

/** What the rules read of the rest of the state. */
export interface StateView {
  has(kind: KindName, key: string): boolean;
  get(kind: KindName, key: string): AnyItem | undefined;
  list(kind: KindName): Iterable<AnyItem>;
}

const EXTERNAL_KINDS: readonly KindName[] = ['externalNetworks', 'natConnections', 'routedConnections'];
const ref = (kind: KindName, key: string) => `${kind}\u0000${key}`;

function add<K, V>(index: Map<K, Set<V>>, at: K, value: V): void {
  let set = index.get(at);
  if (!set) index.set(at, (set = new Set()));
  set.add(value);
}

function remove<K, V>(index: Map<K, Set<V>>, at: K, value: V): void {
  const set = index.get(at);
  set?.delete(value);
  if (set?.size === 0) index.delete(at);
}

export class ExternalIndex {
  /** Connections per external network: `${kind}\0${routingDomainId}`. */
  private readonly byNetwork = new Map<string, Set<string>>();
  /** Static external address -> the routing domain mapping it. */
  private readonly statics = new Map<string, string>();
  /** `address|protocol|port` -> the routing domain forwarding it. */
  private readonly forwards = new Map<string, string>();
  /** External address of any rule -> the routing domains with rules on it. */
  private readonly ruleAddresses = new Map<string, Set<string>>();
  /** Uplink (own) address -> its interface. */
  private readonly uplinkAddresses = new Map<string, string>();
  /** SNAT range of each NAT connection, as numbers. */
  private readonly pools = new Map<string, { first: number; last: number }>();

  static handles(kind: KindName): boolean {
    return EXTERNAL_KINDS.includes(kind);
  }

  index(kind: KindName, key: string, item: AnyItem): void {
    if (kind === 'externalNetworks') {
      this.uplinkAddresses.set((item as ExternalNetwork).address, key);
    } else if (kind === 'routedConnections') {
      add(this.byNetwork, (item as RoutedConnection).interface, ref(kind, key));
    } else if (kind === 'natConnections') {
      const c = item as NatConnection;
      add(this.byNetwork, c.interface, ref(kind, key));
      this.pools.set(key, rangeOf(c.externalAddresses));
      for (const rule of c.rules) {
        add(this.ruleAddresses, rule.externalAddress, key);
        if (rule.protocol === 'Any') this.statics.set(rule.externalAddress, key);
        else this.forwards.set(`${rule.externalAddress}|${rule.protocol}|${rule.externalPort}`, key);
      }
    }
  }

  unindex(kind: KindName, key: string, item: AnyItem): void {
    if (kind === 'externalNetworks') {
      if (this.uplinkAddresses.get((item as ExternalNetwork).address) === key) this.uplinkAddresses.delete((item as ExternalNetwork).address);
    } else if (kind === 'routedConnections') {
      remove(this.byNetwork, (item as RoutedConnection).interface, ref(kind, key));
    } else if (kind === 'natConnections') {
      const c = item as NatConnection;
      remove(this.byNetwork, c.interface, ref(kind, key));
      this.pools.delete(key);
      for (const rule of c.rules) {
        remove(this.ruleAddresses, rule.externalAddress, key);
        if (rule.protocol === 'Any') {
          if (this.statics.get(rule.externalAddress) === key) this.statics.delete(rule.externalAddress);
        } else {
          const tuple = `${rule.externalAddress}|${rule.protocol}|${rule.externalPort}`;
          if (this.forwards.get(tuple) === key) this.forwards.delete(tuple);
        }
      }
    }
  }

  /** What refers to an item through the external kinds. */
  dependantsOf(kind: KindName, key: string, view: StateView): { kind: KindName; key: string }[] {
    if (kind === 'routingDomains') {
      return (['natConnections', 'routedConnections'] as const).filter((k) => view.has(k, key)).map((k) => ({ kind: k, key }));
    }
    if (kind === 'externalNetworks') {
      return [...(this.byNetwork.get(key) ?? [])].map((r) => {
        const [k, rd] = r.split('\u0000') as [KindName, string];
        return { kind: k, key: rd };
      });
    }
    return [];
  }

  /** Referential rules for writing `item` under `key`; `at` makes a field's error path. */
  check(kind: KindName, item: AnyItem, key: string, at: (field: string) => string, view: StateView): FieldError[] {
    switch (kind) {
      case 'providerAddresses': {
        const pa = item as ProviderAddress;
        if (view.has('externalNetworks', pa.interface)) {
          return [new FieldError(ErrorCode.InterfaceInUse, at('interface'), `${pa.interface} is the uplink of an external network; the provider (fabric) network needs an interface of its own`)];
        }
        return [];
      }
      case 'externalNetworks':
        return this.checkNetwork(item as ExternalNetwork, key, at, view);
      case 'natConnections':
        return this.checkNat(item as NatConnection, key, at, view);
      case 'routedConnections':
        return this.checkRouted(item as RoutedConnection, key, at, view);
      default:
        return [];
    }
  }

  private checkNetwork(net: ExternalNetwork, key: string, at: (field: string) => string, view: StateView): FieldError[] {
    const errors: FieldError[] = [];
    for (const pa of view.list('providerAddresses') as Iterable<ProviderAddress>) {
      if (pa.interface === net.interface) {
        errors.push(new FieldError(ErrorCode.InterfaceInUse, at('interface'), `${net.interface} carries provider address ${pa.providerAddress}; an uplink needs an interface of its own`));
        break;
      }
    }
    const owner = this.statics.get(net.address);
    if (owner !== undefined) errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at('address'), `${net.address} is the external address of a static NAT of routing domain ${owner}`));
    const other = this.uplinkAddresses.get(net.address);
    if (other !== undefined && other !== key) errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at('address'), `${net.address} is already the address of uplink ${other}`));
    return errors;
  }

  private connectionBasics(kind: 'natConnections' | 'routedConnections', c: NatConnection | RoutedConnection, at: (field: string) => string, view: StateView): FieldError[] {
    if (!view.has('routingDomains', c.routingDomainId)) return [new FieldError(ErrorCode.UnknownReference, at('routingDomainId'), `routing domain ${c.routingDomainId} does not exist`)];
    if (!view.has('externalNetworks', c.interface)) return [new FieldError(ErrorCode.UnknownReference, at('interface'), `external network ${c.interface} does not exist`)];
    const other = kind === 'natConnections' ? 'routedConnections' : 'natConnections';
    if (view.has(other, c.routingDomainId)) {
      return [new FieldError(ErrorCode.DomainAlreadyConnected, at('routingDomainId'), `routing domain ${c.routingDomainId} already has a ${other === 'natConnections' ? 'NAT' : 'routed'} connection; a domain has one external connection`)];
    }
    const users = [...(this.byNetwork.get(c.interface) ?? [])].filter((r) => r !== ref(kind, c.routingDomainId));
    const routedUser = users.find((r) => r.startsWith('routedConnections\u0000'));
    if (routedUser !== undefined) {
      return [new FieldError(ErrorCode.ExternalNetworkInUse, at('interface'), `external network ${c.interface} is routed into routing domain ${routedUser.split('\u0000')[1] ?? ''}, which has it to itself`)];
    }
    if (kind === 'routedConnections' && users.length > 0) {
      return [new FieldError(ErrorCode.ExternalNetworkInUse, at('interface'), `external network ${c.interface} already serves ${users.length} NAT connection(s); a routed connection needs its uplink to itself`)];
    }
    return [];
  }

  private checkRouted(c: RoutedConnection, _key: string, at: (field: string) => string, view: StateView): FieldError[] {
    return this.connectionBasics('routedConnections', c, at, view);
  }

  private checkNat(c: NatConnection, key: string, at: (field: string) => string, view: StateView): FieldError[] {
    const basics = this.connectionBasics('natConnections', c, at, view);
    if (basics.length > 0) return basics;
    const errors: FieldError[] = [];
    for (const address of addressesOf(c.externalAddresses)) {
      const owner = this.statics.get(address);
      if (owner !== undefined && owner !== key) {
        errors.push(new FieldError(ErrorCode.ExternalAddressInUse, at('externalAddresses'), `${address} is the external address of a static NAT of routing domain ${owner}`));
      }
    }
    c.rules.forEach((rule, i) => {
      const field = (name: string) => at(`rules/${i}/${name}`);
      const staticOwner = this.statics.get(rule.externalAddress);
      if (rule.protocol === 'Any') {
        if (staticOwner !== undefined && staticOwner !== key) {
          errors.push(new FieldError(ErrorCode.ExternalAddressInUse, field('externalAddress'), `${rule.externalAddress} is already statically mapped in routing domain ${staticOwner}`));
          return;
        }
        const ruleOwners = [...(this.ruleAddresses.get(rule.externalAddress) ?? [])].filter((rd) => rd !== key);
        if (ruleOwners.length > 0) {
          errors.push(new FieldError(ErrorCode.ExternalAddressInUse, field('externalAddress'), `${rule.externalAddress} carries port forwards of routing domain ${ruleOwners[0] ?? ''}`));
          return;
        }
        const n = ipv4Number(rule.externalAddress) ?? -1;
        for (const [rd, p] of this.pools) {
          if (rd !== key && n >= p.first && n <= p.last) {
            errors.push(new FieldError(ErrorCode.ExternalAddressInUse, field('externalAddress'), `${rule.externalAddress} is a SNAT address of routing domain ${rd}`));
            return;
          }
        }
        const uplink = this.uplinkAddresses.get(rule.externalAddress);
        if (uplink !== undefined) errors.push(new FieldError(ErrorCode.ExternalAddressInUse, field('externalAddress'), `${rule.externalAddress} is the gateway's own address on uplink ${uplink}`));
        return;
      }
      if (staticOwner !== undefined && staticOwner !== key) {
        errors.push(new FieldError(ErrorCode.ExternalAddressInUse, field('externalAddress'), `${rule.externalAddress} is statically mapped in routing domain ${staticOwner}, which takes every port`));
        return;
      }
      const forwardOwner = this.forwards.get(`${rule.externalAddress}|${rule.protocol}|${rule.externalPort}`);
      if (forwardOwner !== undefined && forwardOwner !== key) {
        errors.push(new FieldError(ErrorCode.ExternalPortInUse, field('externalPort'), `${rule.protocol} ${rule.externalAddress}:${rule.externalPort} is already forwarded into routing domain ${forwardOwner}`));
      }
    });
    return errors;
  }
}
