/**
 * Runs an HNV script against gateways: compile it, plan it against each gateway's
 * configuration, and only when every gateway's plan is free of errors, apply each one
 * atomically through PUT /v1/config with If-Match (re-planned on 412). When the gateway
 * refuses the document, the paths in its error details are traced back to the script
 * lines that produced those objects.
 */
import type { NvgwClient } from '../client/client.js';
import { INTERFACE_NAME } from '../client/canonical.js';
import { NvgwApiError } from '../client/errors.js';
import type { SyncResult } from '../client/sync.js';
import type { KindName } from '../client/types.js';
import { KIND_NAMES } from '../client/types.js';
import type { GetOutput, PlanResult } from './plan.js';
import { planScript } from './plan.js';
import type { CompiledScript, HnvMap, ScriptProblem } from './script.js';
import { compileScript } from './script.js';

export interface HnvRunOptions {
  /** The gateway nvgwctl talks to; lines without -CimSession go there. */
  defaultUrl: string;
  clientFor: (url: string) => NvgwClient;
  interfaceName?: string;
  map?: HnvMap;
  dryRun?: boolean;
}

export interface TargetResult {
  url: string;
  plan: PlanResult;
  /** Undefined when the script changes nothing there (only Get-, or everything already present). */
  sync?: SyncResult;
}

export interface HnvRunResult {
  compiled: CompiledScript;
  targets: TargetResult[];
  outputs: { url: string; output: GetOutput }[];
  notes: ScriptProblem[];
}

/** The script is wrong: nothing was applied anywhere. */
export class HnvScriptError extends Error {
  override readonly name = 'HnvScriptError';
  constructor(
    readonly problems: ScriptProblem[],
    readonly compiled?: CompiledScript,
  ) {
    super(`${problems.length} problem(s) in the script; nothing was applied`);
  }
}

/** The gateway refused what the script asks for; `problems` are its details traced to script lines. */
export class HnvApiError extends Error {
  override readonly name = 'HnvApiError';
  constructor(
    readonly url: string,
    readonly apiError: NvgwApiError,
    readonly problems: ScriptProblem[],
    readonly appliedTo: string[],
  ) {
    super(apiError.message);
  }
}

/** Reads and checks a map file's JSON; throws an Error naming the bad entry. */
export function parseMapFile(text: string, file: string): HnvMap {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new Error(`${file}: not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: must hold a JSON object with "interfaces" and/or "cimSessions"`);
  const map = parsed as Record<string, unknown>;
  for (const key of Object.keys(map)) if (key !== 'interfaces' && key !== 'cimSessions') throw new Error(`${file}: unknown key "${key}"; expected "interfaces" and/or "cimSessions"`);
  const out: HnvMap = {};
  if (map.interfaces !== undefined) {
    if (typeof map.interfaces !== 'object' || map.interfaces === null || Array.isArray(map.interfaces)) throw new Error(`${file}: "interfaces" must be an object`);
    out.interfaces = {};
    for (const [from, to] of Object.entries(map.interfaces)) {
      if (typeof to !== 'string' || !INTERFACE_NAME.test(to)) throw new Error(`${file}: interfaces["${from}"] must be a Linux interface name, got ${JSON.stringify(to)}`);
      out.interfaces[from] = to;
    }
  }
  if (map.cimSessions !== undefined) {
    if (typeof map.cimSessions !== 'object' || map.cimSessions === null || Array.isArray(map.cimSessions)) throw new Error(`${file}: "cimSessions" must be an object`);
    out.cimSessions = {};
    for (const [host, to] of Object.entries(map.cimSessions)) {
      const valid = to === null || typeof to === 'boolean' || (typeof to === 'string' && /^https?:\/\/./.test(to));
      if (!valid) throw new Error(`${file}: cimSessions["${host}"] must be a gateway URL (http(s)://…), true for the --url gateway, or null`);
      out.cimSessions[host] = to as string | boolean | null;
    }
  }
  return out;
}

/** The Windows InterfaceIndex the map file gives a gateway interface, if it gives exactly one. */
export function interfaceIndexFrom(map: HnvMap | undefined): (name: string) => string | undefined {
  return (name) => {
    const indexes = Object.entries(map?.interfaces ?? {})
      .filter(([from, to]) => to === name && /^[0-9]+$/.test(from))
      .map(([from]) => from);
    return indexes.length === 1 ? indexes[0] : undefined;
  };
}

export async function runHnvScript(source: string, options: HnvRunOptions): Promise<HnvRunResult> {
  const defaultUrl = options.defaultUrl.replace(/\/+$/, '');
  const compiled = compileScript(source, { defaultTarget: defaultUrl, interfaceName: options.interfaceName, map: options.map });
  if (compiled.errors.length > 0) throw new HnvScriptError(compiled.errors, compiled);

  // Plan everywhere first: a script that is wrong for one gateway is applied to none.
  const planned: { url: string; client: NvgwClient; plan: PlanResult }[] = [];
  const problems: ScriptProblem[] = [];
  for (const url of compiled.targets) {
    const client = options.clientFor(url);
    const { document } = await client.getConfig();
    const plan = planScript(compiled.operations, document, url);
    const where = compiled.targets.length > 1 ? ` (gateway ${url})` : '';
    problems.push(...plan.errors.map((p) => ({ ...p, message: `${p.message}${where}` })));
    planned.push({ url, client, plan });
  }
  if (problems.length > 0) throw new HnvScriptError(problems, compiled);

  const targets: TargetResult[] = [];
  const appliedTo: string[] = [];
  for (const { url, client, plan } of planned) {
    if (!plan.changed) {
      targets.push({ url, plan });
      continue;
    }
    let last = plan;
    try {
      const sync = await client.sync(
        (current) => {
          last = planScript(compiled.operations, current, url);
          if (last.errors.length > 0) throw new HnvScriptError(last.errors, compiled);
          return last.document;
        },
        { dryRun: options.dryRun },
      );
      targets.push({ url, plan: last, sync });
      if (sync.applied) appliedTo.push(url);
    } catch (error) {
      if (error instanceof NvgwApiError) throw new HnvApiError(url, error, traceDetails(error, last), appliedTo);
      throw error;
    }
  }

  const outputs: { url: string; output: GetOutput }[] = [];
  const order = new Map(compiled.operations.map((op, i) => [op, i]));
  for (const target of targets) for (const output of target.plan.outputs) outputs.push({ url: target.url, output });
  outputs.sort((a, b) => (order.get(a.output.operation) ?? 0) - (order.get(b.output.operation) ?? 0));
  const notes = [...compiled.notes, ...targets.flatMap((t) => t.plan.notes)];
  return { compiled, targets, outputs, notes };
}

/** Maps the gateway's detail paths (lookupRecords/3/customerAddress) to the script line and column. */
function traceDetails(error: NvgwApiError, plan: PlanResult): ScriptProblem[] {
  return error.details.map((detail) => {
    const [kind, index, field] = detail.path.split('/');
    const origin = KIND_NAMES.includes(kind as KindName) && index !== undefined ? plan.origins[kind as KindName][Number(index)] : undefined;
    if (!origin) return { line: 0, col: 0, message: `${detail.path}: ${detail.problem}` };
    const at = (field !== undefined ? origin.fields[field] : undefined) ?? origin;
    return { line: at.line, col: at.col, message: `${detail.problem} (${error.code})` };
  });
}
