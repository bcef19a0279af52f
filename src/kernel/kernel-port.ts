/**
 * The kernel port: what the control plane needs from the Linux networking stack, as one
 * interface with a real adapter (netlink-kernel.ts, rtnetlink in the current network
 * namespace) and a fake (fake-kernel.ts, in memory, same semantics) — Open vSwitch's
 * netdev provider / netdev-dummy split.
 *
 * Reconciliation is kube-router style: observe everything, compute a plan with a pure
 * function (plan.ts: planKernel), apply it with replace semantics, and repeat at will. A
 * second run against an unchanged kernel plans nothing. Only objects nvgw owns (OWNERSHIP
 * in intent.ts; see plan.ts for the exact tests) are ever changed or deleted. The gateway
 * runs the same loop in slices (reconcileSliced, pass-scope.ts), so what a pass holds at
 * once is bounded by a slice, not by the number of VSIDs.
 *
 * The data-path and firewall contract of the policy-routing backend (marks, sysctls, the
 * local-table relocation) is written down at the top of plan.ts.
 */
import type { Backend, KernelIntent, NeighbourIntent } from './intent.js';
import type { PassScope } from './pass-scope.js';
import { isOwnedLinkName, planKernel, resolveScope } from './plan.js';

export interface KernelPort {
  /** 'vrf' when the kernel can create a VRF device, else 'policy-routing'. Leaves nothing behind. */
  detectBackend(): Promise<Backend>;
  /**
   * A consistent snapshot of links, IPv4 addresses, neighbours, routes (all tables), rules and
   * the sysctls nvgw manages. With `linkState: false`, no neighbours and only the
   * namespace-wide sysctls in it: a sliced pass takes those per slice (observeLinkState).
   */
  observe(options?: { linkState?: boolean }): Promise<KernelObserved>;
  /**
   * The neighbours on these links as the last observe() found them (a link it did not find
   * has none), and the links' sysctls as they are now.
   */
  observeLinkState(ifnames: readonly string[]): Promise<LinkState>;
  /** Runs the plan's steps in order; a failed step never stops independent ones. */
  apply(plan: KernelPlan): Promise<ApplyReport>;
  /** Releases the adapter's resources (the netlink socket). */
  close(): void;
}

/** Observes, plans (pure) and applies: one reconciliation pass. Safe to repeat. */
export async function reconcileKernel(port: KernelPort, intent: KernelIntent): Promise<ReconcileResult> {
  const started = performance.now();
  const observed = await port.observe();
  const observedAt = performance.now();
  const plan = planKernel(intent, observed);
  const plannedAt = performance.now();
  const report = await port.apply(plan);
  const phases = { observeMs: Math.round(observedAt - started), planMs: Math.round(plannedAt - observedAt), applyMs: Math.round(performance.now() - plannedAt), steps: plan.steps.length };
  return { plan, report, phases };
}

/**
 * A whole pass in slices (pass-scope.ts): the intent with every subnet's neighbours left
 * out, and the slices, the rest first. The neighbours of a slice's subnets are asked for
 * when it runs, so the whole set never exists at once.
 */
export interface SlicedPass {
  intent: KernelIntent;
  slices: PassScope[];
}

/** The neighbours of these VSIDs, by VSID (a VSID not in the answer has none). */
export type NeighbourSource = (vsids: number[]) => Promise<Map<number, NeighbourIntent[]>>;

/** The same answer from the main thread, which holds the desired state: entries that cross to the pass's worker. */
export type NeighbourLookup = (vsids: number[]) => [number, NeighbourIntent[]][];

/** What a sliced pass did: the plans' notes and conflicts, the steps that failed, the timings. */
export interface SlicedResult {
  notes: string[];
  conflicts: KernelPlan['conflicts'];
  failed: StepOutcome[];
  phases: ReconcileResult['phases'] & { slices: number };
}

/**
 * One pass, slice by slice: links, addresses, routes and rules are read once at the start;
 * each slice then reads the neighbours and sysctls of its own links, plans its part and
 * applies it before the next slice is read. The slices touch disjoint objects, so what one
 * applies never changes what a later one planned from the first read.
 */
export async function reconcileSliced(port: KernelPort, pass: SlicedPass, neighboursOf: NeighbourSource, afterSlice?: () => void): Promise<SlicedResult> {
  const started = performance.now();
  const base = await port.observe({ linkState: false });
  const result: SlicedResult = { notes: [], conflicts: [], failed: [], phases: { observeMs: performance.now() - started, planMs: 0, applyMs: 0, steps: 0, slices: pass.slices.length } };
  for (const scope of pass.slices) {
    const observeFrom = performance.now();
    const test = resolveScope(pass.intent, scope);
    const intent = scope.kind === 'domains' ? await withNeighbours(pass.intent, scope.domains, neighboursOf) : pass.intent;
    const linkState = await port.observeLinkState(base.links.filter((l) => isOwnedLinkName(l.name) && test.link(l.name)).map((l) => l.name));
    const observed: KernelObserved = { ...base, neighbours: linkState.neighbours, sysctls: { ...base.sysctls, ...linkState.sysctls } };
    const planFrom = performance.now();
    const plan = planKernel(intent, observed, scope);
    const applyFrom = performance.now();
    const report = await port.apply(plan);
    result.phases.observeMs += planFrom - observeFrom;
    result.phases.planMs += applyFrom - planFrom;
    result.phases.applyMs += performance.now() - applyFrom;
    result.phases.steps += plan.steps.length;
    result.notes.push(...plan.notes);
    result.conflicts.push(...plan.conflicts);
    result.failed.push(...report.failed);
    afterSlice?.();
  }
  for (const key of ['observeMs', 'planMs', 'applyMs'] as const) result.phases[key] = Math.round(result.phases[key]);
  return result;
}

/** The intent with the neighbours of these domains' subnets filled in (the rest stay as they are). */
async function withNeighbours(intent: KernelIntent, domainIds: readonly string[], neighboursOf: NeighbourSource): Promise<KernelIntent> {
  const ids = new Set(domainIds);
  const vsids = intent.domains.filter((d) => ids.has(d.routingDomainId)).flatMap((d) => d.subnets.map((s) => s.vsid));
  const neighbours = await neighboursOf(vsids);
  return {
    ...intent,
    domains: intent.domains.map((d) => (ids.has(d.routingDomainId) ? { ...d, subnets: d.subnets.map((s) => ({ ...s, neighbours: neighbours.get(s.vsid) ?? [] })) } : d)),
  };
}

export interface ReconcileResult {
  plan: KernelPlan;
  report: ApplyReport;
  /** Where the pass spent its time (reported in /v1/status), and how many steps it ran. */
  phases: { observeMs: number; planMs: number; applyMs: number; steps: number };
}

// ---- What the kernel holds (observe) ----

export interface ObservedLink {
  name: string;
  /**
   * 'veth', 'vrf', 'tap' (a tun device in tap mode), 'tun', another IFLA_INFO_KIND as the
   * kernel names it, or null for a link without one (a physical NIC, loopback).
   */
  kind: string | null;
  /** veth only: the peer's name when the peer is in this namespace, else null. */
  peer?: string | null;
  /** vrf only. */
  vrfTable?: number;
  /** 12 lowercase hex digits; null for links without a hardware address. */
  mac: string | null;
  mtu: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  master: string | null;
}

export interface ObservedAddress {
  ifname: string;
  address: string;
  prefixLength: number;
  /** IFA_PROTO (Linux >= 5.18); 0 when absent. 78 marks an address nvgw added. */
  protocol: number;
  noPrefixRoute: boolean;
}

export interface ObservedNeighbour {
  ifname: string;
  address: string;
  mac: string | null;
  permanent: boolean;
}

export type RouteType = 'unicast' | 'local' | 'broadcast' | 'unreachable' | 'blackhole' | 'prohibit' | 'throw' | 'other';
export type RouteScope = 'universe' | 'site' | 'link' | 'host' | 'nowhere';

export interface ObservedRoute {
  table: number;
  /** Canonical "a.b.c.d/n". */
  prefix: string;
  metric: number;
  type: RouteType;
  /** rtm_protocol: 2 kernel, 3 boot, 4 static, 78 nvgw, ... */
  protocol: number;
  scope: RouteScope;
  nextHop?: string;
  ifname?: string;
  /** Preferred source (RTA_PREFSRC). */
  source?: string;
  /** A multipath route (RTA_MULTIPATH): nvgw never creates these. */
  multipath?: boolean;
}

export interface ObservedRule {
  priority: number;
  /** FRA_PROTOCOL; 0 when absent. */
  protocol: number;
  table: number;
  /** 'lookup' (FR_ACT_TO_TBL) or anything else. */
  action: 'lookup' | 'other';
  iif?: string;
  fwmark?: number;
  fwmask?: number;
  /** The rule also matches on something nvgw never sets (src, dst, oif, tos, ports, uid, invert...). */
  otherSelectors: boolean;
}

/** What is on a set of links: their neighbours and the per-link sysctls nvgw manages. */
export type LinkState = Pick<KernelObserved, 'neighbours' | 'sysctls'>;

export interface KernelObserved {
  links: ObservedLink[];
  addresses: ObservedAddress[];
  neighbours: ObservedNeighbour[];
  routes: ObservedRoute[];
  rules: ObservedRule[];
  /** Keys are paths under /proc/sys ("net/ipv4/ip_forward"); a key is absent when its file is. */
  sysctls: Record<string, string>;
}

// ---- What nvgw wants done (plan) ----

export type LinkKind = 'veth' | 'tap' | 'vrf';

export interface LinkSpec {
  name: string;
  kind: LinkKind;
  /** veth: the other end, created with it. */
  peer?: string;
  /** vrf: its table. */
  vrfTable?: number;
  mac?: string;
  mtu?: number;
  up: boolean;
  /** The VRF to enslave to, null for none; undefined when the master is not nvgw's to manage. */
  master?: string | null;
}

export interface LinkChanges {
  mac?: string;
  mtu?: number;
  master?: string | null;
  up?: boolean;
}

export interface AddressSpec {
  ifname: string;
  address: string;
  prefixLength: number;
  /** IFA_F_NOPREFIXROUTE: the on-link route goes into the domain's table instead of main. */
  noPrefixRoute: boolean;
}

export interface NeighbourSpec {
  ifname: string;
  address: string;
  mac: string;
}

export interface RouteSpec {
  table: number;
  prefix: string;
  metric: number;
  /** nvgw creates unicast, unreachable and local routes; a delete names whatever type it removes. */
  type: RouteType;
  scope: RouteScope;
  /** 78 for nvgw's routes; a route of another protocol appears only in a delete (kernel local-route eviction). */
  protocol: number;
  nextHop?: string;
  ifname?: string;
  source?: string;
}

export interface RuleSpec {
  priority: number;
  table: number;
  iif?: string;
  fwmark?: number;
  fwmask?: number;
}

interface StepBase {
  /** Names the object: "route 192.168.1.0/24 table 1001 metric 0". Errors carry it. */
  id: string;
  /** Links this step needs; when creating one of them failed, the step is skipped, not tried. */
  requires: string[];
}

export type KernelStep =
  | (StepBase & { kind: 'sysctl'; op: 'set'; key: string; value: string })
  | (StepBase & { kind: 'link'; op: 'create'; link: LinkSpec })
  | (StepBase & { kind: 'link'; op: 'update'; link: LinkSpec; changes: LinkChanges })
  | (StepBase & { kind: 'link'; op: 'delete'; name: string })
  | (StepBase & { kind: 'address'; op: 'create' | 'delete'; address: AddressSpec })
  | (StepBase & { kind: 'neighbour'; op: 'replace' | 'delete'; neighbour: NeighbourSpec })
  | (StepBase & { kind: 'route'; op: 'replace' | 'delete'; route: RouteSpec })
  | (StepBase & { kind: 'rule'; op: 'create' | 'delete'; rule: RuleSpec });

/** Something nvgw wanted but will not do: an invalid intent item, or a foreign object in the way. */
export interface Conflict {
  id: string;
  reason: string;
}

export interface KernelPlan {
  backend: Backend;
  /**
   * In application order: deletions first (rules, routes, neighbours, addresses, links),
   * then global sysctls, links, per-link sysctls, link settings, addresses, neighbours,
   * routes, kernel local-route evictions and rules.
   */
  steps: KernelStep[];
  conflicts: Conflict[];
  /** Facts worth a log line that need no action (a wanted PA already present but not nvgw's). */
  notes: string[];
}

// ---- What happened (apply) ----

export interface StepOutcome {
  id: string;
  kind: KernelStep['kind'];
  op: KernelStep['op'];
  status: 'done' | 'failed' | 'skipped';
  attempts: number;
  error?: { code: string; errno?: string; message: string };
}

export interface ApplyReport {
  /** True when every step was done. */
  ok: boolean;
  done: StepOutcome[];
  failed: StepOutcome[];
  skipped: StepOutcome[];
}
