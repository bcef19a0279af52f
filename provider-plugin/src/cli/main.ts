/**
 * nvgwctl: the operator's command line for an nvgw gateway. `main` takes its arguments
 * and an injected IO (streams, environment, files), so tests run it in-process as well
 * as through the real binary; it returns the exit code and never calls process.exit.
 */
import { parseArgs } from 'node:util';
import type { ClientOptions } from '../client/client.js';
import { NvgwClient } from '../client/client.js';
import { NvgwApiError, NvgwConnectionError } from '../client/errors.js';
import { sortItems } from '../client/keys.js';
import type { ConfigInput, FilterOf, KindName } from '../client/types.js';
import { KIND_NAMES, RESOURCES } from '../client/types.js';
import { exportScript } from '../hnv/export.js';
import { formatList, hnvProperties } from '../hnv/format-list.js';
import type { HnvMap, ScriptProblem } from '../hnv/script.js';
import type { HnvRunResult } from '../hnv/run.js';
import { HnvApiError, HnvScriptError, interfaceIndexFrom, parseMapFile, runHnvScript } from '../hnv/run.js';
import type { OutputFormat } from './output.js';
import { describeSummary, renderDiff, renderDocument, renderItems, renderStats } from './output.js';

export const EXIT = { ok: 0, internal: 1, usage: 2, api: 3, connection: 4 } as const;

export interface CliIo {
  stdout: { write(text: string): unknown };
  stderr: { write(text: string): unknown };
  env: Record<string, string | undefined>;
  /** Reads a file as UTF-8; "-" is standard input. */
  readFile(path: string): Promise<string>;
  /** Extra client options (tests inject sleep, transport). */
  clientOptions?: Partial<ClientOptions>;
}

const DEFAULT_URL = 'http://127.0.0.1:8470';

export const USAGE = `usage: nvgwctl [options] <command> [arguments]

commands:
  get <kind> [key...] [--filter field=value]...
                          list a kind, or show one item by its key (all key fields),
                          or list by leading key fields; kind "config" prints the whole
                          state as JSON (the format apply takes)
  apply -f FILE [--dry-run]
                          make the gateway's whole state FILE (a /v1/config JSON document,
                          "-" for stdin): read + ETag, PUT with If-Match, re-read on 412
  diff -f FILE            what apply -f FILE would change (the gateway's dry run)
  delete <kind> <key...> [--cascade]
                          delete one item; --cascade also deletes what refers to it
  status                  version, uptime, ETag, object counts
  stats                   data-path packet and byte counters (GET /v1/stats)
  trace (--hex HEX | --packet DESC | -f FILE) [--ingress NAME]
                          what the data path would do with a packet (POST /v1/trace)
  hnv FILE.ps1|- [--map FILE] [--interface NAME] [--dry-run]
                          run HNV PowerShell lines (New-/Get-/Set-/Remove-NetVirtualization
                          LookupRecord, CustomerRoute, ProviderAddress, ProviderRoute);
                          the whole script applies atomically or not at all
  hnv --export [--map FILE]
                          print the gateway's state as an HNV script (hnv runs it back)

kinds: routing-domains (rd), virtual-subnets (vs), lookup-records (lr),
       customer-routes (cr), provider-addresses (pa), provider-routes (pr)
keys:  routing-domains GUID | virtual-subnets VSID | lookup-records VSID CA |
       customer-routes GUID VSID PREFIX | provider-addresses PA |
       provider-routes INTERFACE PREFIX

options:
  --url URL               gateway API (env NVGW_URL; default ${DEFAULT_URL})
  --token TOKEN           bearer token (env NVGW_TOKEN)
  --token-file FILE       file holding the token (env NVGW_TOKEN_FILE)
  --ca FILE               PEM CA bundle for an https URL (env NVGW_CA)
  --cert FILE, --key FILE PEM client certificate and key for mTLS (env NVGW_CERT, NVGW_KEY)
  -o, --output FORMAT     table (default), wide, or json
  --timeout SECONDS       per request attempt (default 30)
  --retries N             retries of idempotent requests on network errors and 5xx (default 3)
  -v, --verbose           say when a request is retried
  -h, --help              this text

hnv options:
  --map FILE              JSON: {"interfaces": {"$iface.InterfaceIndex": "eth1", "12": "eth1"},
                          "cimSessions": {"host1": "https://gw1:8470", "host2": null, "*": true}}
                          -CimSession hosts map to gateway URLs (true: --url, null: not a
                          gateway); without it -CimSession is ignored (with a note)
  --interface NAME        the gateway interface for -InterfaceIndex/-InterfaceAlias values
                          the map does not name

exit codes:
  0  success
  1  internal error (a bug in nvgwctl)
  2  usage error, or an invalid input file or script (nothing was changed)
  3  the gateway answered with an error (4xx/5xx): its code, message and details are printed
  4  the gateway could not be reached (connection refused, DNS, TLS, timeout)
`;

class UsageError extends Error {
  override readonly name = 'UsageError';
}

const OPTIONS = {
  url: { type: 'string' },
  token: { type: 'string' },
  'token-file': { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  output: { type: 'string', short: 'o' },
  timeout: { type: 'string' },
  retries: { type: 'string' },
  verbose: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
  filter: { type: 'string', multiple: true },
  file: { type: 'string', short: 'f' },
  'dry-run': { type: 'boolean' },
  cascade: { type: 'boolean' },
  export: { type: 'boolean' },
  map: { type: 'string' },
  interface: { type: 'string' },
  ingress: { type: 'string' },
  hex: { type: 'string' },
  packet: { type: 'string' },
} as const;

const GLOBAL = new Set(['url', 'token', 'token-file', 'ca', 'cert', 'key', 'output', 'timeout', 'retries', 'verbose', 'help']);
const COMMAND_OPTIONS: Record<string, readonly string[]> = {
  get: ['filter'],
  apply: ['file', 'dry-run'],
  diff: ['file'],
  delete: ['cascade'],
  status: [],
  stats: [],
  trace: ['ingress', 'hex', 'packet', 'file'],
  hnv: ['export', 'map', 'interface', 'dry-run'],
  help: [],
};

type Values = { [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true } ? string[] : (typeof OPTIONS)[K]['type'] extends 'boolean' ? boolean : string };

const KIND_ALIASES: Record<string, KindName> = { rd: 'routingDomains', vs: 'virtualSubnets', vsid: 'virtualSubnets', lr: 'lookupRecords', cr: 'customerRoutes', pa: 'providerAddresses', pr: 'providerRoutes' };

/** lookup-records, lookup-record, lookupRecords, LookupRecord, lr … → lookupRecords. */
export function kindFromWord(word: string): KindName | undefined {
  const norm = word.toLowerCase().replace(/[-_]/g, '');
  if (KIND_ALIASES[norm]) return KIND_ALIASES[norm];
  return KIND_NAMES.find((k) => {
    const name = k.toLowerCase();
    return norm === name || `${norm}s` === name;
  });
}

export async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const out = (text: string) => io.stdout.write(text);
  const err = (text: string) => io.stderr.write(text);
  try {
    let parsed: { values: Values; positionals: string[] };
    try {
      parsed = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }) as { values: Values; positionals: string[] };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const { values, positionals } = parsed;
    const [command, ...args] = positionals;
    if (values.help || command === 'help' || command === undefined) {
      if (command === undefined && !values.help) {
        err(USAGE);
        return EXIT.usage;
      }
      out(USAGE);
      return EXIT.ok;
    }
    const allowed = COMMAND_OPTIONS[command];
    if (!allowed) throw new UsageError(`unknown command "${command}"`);
    for (const name of Object.keys(values)) {
      if (!GLOBAL.has(name) && !allowed.includes(name)) throw new UsageError(`--${name} is not an option of "${command}"`);
    }
    const format = outputFormat(values.output);
    const url = values.url ?? io.env.NVGW_URL ?? DEFAULT_URL;
    const { client, options } = await makeClient(url, values, io, err);

    switch (command) {
      case 'get':
        return await get(client, args, values, format, out, err);
      case 'apply':
        return await apply(client, values, format, io, out, err);
      case 'diff':
        return await diff(client, values, format, io, out, err);
      case 'delete':
        return await remove(client, args, values, format, out);
      case 'status': {
        noArgs(command, args);
        const status = await client.status();
        out(format === 'json' ? json(status) : renderDocument(status));
        return EXIT.ok;
      }
      case 'stats': {
        noArgs(command, args);
        const stats = await notYet('data-path statistics (GET /v1/stats)', () => client.stats());
        out(format === 'json' ? json(stats) : renderStats(stats, format === 'wide'));
        return EXIT.ok;
      }
      case 'trace':
        return await trace(client, args, values, format, io, out);
      case 'hnv':
        return await hnv(client, options, args, values, format, io, out, err);
    }
    throw new UsageError(`unknown command "${command}"`);
  } catch (error) {
    return report(error, err);
  }
}

function report(error: unknown, err: (text: string) => void): number {
  if (error instanceof UsageError) {
    err(`nvgwctl: ${error.message}\nRun "nvgwctl --help" for usage.\n`);
    return EXIT.usage;
  }
  if (error instanceof NotOffered) {
    err(`nvgwctl: this gateway does not offer ${error.what} yet (it answered ${error.cause.status} ${error.cause.code})\n`);
    return EXIT.api;
  }
  if (error instanceof NvgwApiError && error.code === 'DATAPATH_DISABLED') {
    err(`nvgwctl: this gateway runs without a data path, so it has no packet counters or traces: ${error.message} (${error.status} ${error.code})\n`);
    return EXIT.api;
  }
  if (error instanceof NvgwApiError) {
    const path = safePath(error.url);
    err(`nvgwctl: ${error.method} ${path}: ${error.status} ${error.code}: ${error.message}\n`);
    for (const d of error.details) err(`  ${d.path}: ${d.problem}\n`);
    return EXIT.api;
  }
  if (error instanceof NvgwConnectionError) {
    err(`nvgwctl: cannot reach the gateway at ${new URL(error.url).origin}: ${error.message} (${error.code})\n`);
    return EXIT.connection;
  }
  err(`nvgwctl: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return EXIT.internal;
}

function problemText(p: ScriptProblem, file: string): string {
  if (p.line === 0) return `${file}: ${p.message}`;
  return `${file}:${p.line}:${p.col}: ${p.message}`;
}

function safePath(url: string): string {
  try {
    const u = new URL(url);
    return `${u.pathname}${u.search}`;
  } catch {
    return url;
  }
}

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function noArgs(command: string, args: string[]): void {
  if (args.length > 0) throw new UsageError(`"${command}" takes no arguments (got ${args.join(' ')})`);
}

function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined) return 'table';
  if (value === 'table' || value === 'wide' || value === 'json') return value;
  throw new UsageError(`-o must be table, wide or json (got "${value}")`);
}

async function readInput(io: CliIo, path: string, what: string): Promise<string> {
  try {
    return await io.readFile(path);
  } catch (error) {
    throw new UsageError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

async function makeClient(url: string, values: Values, io: CliIo, err: (text: string) => void): Promise<{ client: NvgwClient; options: ClientOptions }> {
  let token = values.token;
  const tokenFile = values['token-file'] ?? (token === undefined && io.env.NVGW_TOKEN === undefined ? io.env.NVGW_TOKEN_FILE : undefined);
  if (token === undefined && tokenFile !== undefined) {
    token = (await readInput(io, tokenFile, 'token file')).trim();
    if (token === '' || /\s/.test(token)) throw new UsageError(`token file ${tokenFile} must hold one token`);
  }
  token ??= io.env.NVGW_TOKEN;
  const caFile = values.ca ?? io.env.NVGW_CA;
  const certFile = values.cert ?? io.env.NVGW_CERT;
  const keyFile = values.key ?? io.env.NVGW_KEY;
  if ((certFile === undefined) !== (keyFile === undefined)) throw new UsageError('--cert and --key go together (mTLS client certificate and its key)');
  const tls =
    caFile !== undefined || certFile !== undefined
      ? {
          ca: caFile !== undefined ? await readInput(io, caFile, 'CA file') : undefined,
          cert: certFile !== undefined ? await readInput(io, certFile, 'certificate file') : undefined,
          key: keyFile !== undefined ? await readInput(io, keyFile, 'key file') : undefined,
        }
      : undefined;
  const timeout = values.timeout === undefined ? 30 : Number(values.timeout);
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a number of seconds (got "${values.timeout}")`);
  const retries = values.retries === undefined ? undefined : Number(values.retries);
  if (retries !== undefined && !(Number.isInteger(retries) && retries >= 0 && retries <= 10)) throw new UsageError(`--retries must be 0..10 (got "${values.retries}")`);
  const options: ClientOptions = {
    url,
    token,
    tls,
    timeoutMs: Math.round(timeout * 1000),
    retry: retries === undefined ? undefined : { retries },
    onRetry: values.verbose ? (r) => err(`nvgwctl: retry ${r.retry} of ${r.method} ${safePath(r.url)} in ${r.delayMs} ms (${r.reason})\n`) : undefined,
    ...io.clientOptions,
  };
  try {
    return { client: new NvgwClient(options), options };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function kindArg(word: string | undefined): KindName {
  if (word === undefined) throw new UsageError(`name a kind: ${KIND_NAMES.map((k) => RESOURCES[k].path).join(', ')}`);
  const kind = kindFromWord(word);
  if (!kind) throw new UsageError(`unknown kind "${word}"; kinds are ${KIND_NAMES.map((k) => RESOURCES[k].path).join(', ')}`);
  return kind;
}

function fieldOf(kind: KindName, name: string): string {
  const field = Object.keys(RESOURCES[kind].fields).find((f) => f.toLowerCase() === name.toLowerCase());
  if (!field) throw new UsageError(`${RESOURCES[kind].path} has no field "${name}"; fields: ${Object.keys(RESOURCES[kind].fields).join(', ')}`);
  return field;
}

async function get(client: NvgwClient, args: string[], values: Values, format: OutputFormat, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  if (args[0] === 'config') {
    if (args.length > 1 || values.filter) throw new UsageError('"get config" takes no key or filter');
    const { document } = await client.getConfig();
    out(json(document));
    return EXIT.ok;
  }
  const kind = kindArg(args[0]);
  const keys = args.slice(1);
  const info = RESOURCES[kind];
  if (keys.length > info.keyFields.length) throw new UsageError(`a ${info.singular} is named by ${info.keyFields.join(', ')} (${info.keyFields.length} value(s)), got ${keys.length}`);
  const filters: Record<string, string> = {};
  for (const f of values.filter ?? []) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`--filter takes field=value (got "${f}")`);
    filters[fieldOf(kind, f.slice(0, eq))] = f.slice(eq + 1);
  }
  if (keys.length === info.keyFields.length && Object.keys(filters).length === 0) {
    const item = await client.get(kind, keys);
    out(format === 'json' ? json(item) : renderItems(kind, [item], format));
    return EXIT.ok;
  }
  keys.forEach((value, i) => {
    filters[info.keyFields[i]!] = value;
  });
  const items = await client.list(kind, filters as FilterOf<typeof kind>);
  if (format === 'json') out(json(items));
  else if (items.length === 0) err(`no ${info.singular}s${Object.keys(filters).length > 0 ? ' match' : ''}\n`);
  else out(renderItems(kind, sortItems(kind, items), format));
  return EXIT.ok;
}

async function readState(io: CliIo, values: Values): Promise<ConfigInput> {
  const file = values.file;
  if (file === undefined) throw new UsageError('name the desired state with -f FILE (a /v1/config JSON document, - for stdin)');
  const text = await readInput(io, file, 'state file');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError(`${file} must hold a JSON object such as {"routingDomains": [...], "lookupRecords": [...]}`);
  const unknown = Object.keys(parsed).filter((k) => !KIND_NAMES.includes(k as KindName));
  if (unknown.length > 0) throw new UsageError(`${file}: unknown collection(s) ${unknown.join(', ')}; expected ${KIND_NAMES.join(', ')}`);
  return parsed as ConfigInput;
}

async function apply(client: NvgwClient, values: Values, format: OutputFormat, io: CliIo, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  const desired = await readState(io, values);
  const result = await client.sync(desired, {
    dryRun: values['dry-run'] === true,
    onConflict: (attempt) => err(`nvgwctl: the configuration changed while applying; reading it again (attempt ${attempt + 1})\n`),
  });
  if (format === 'json') {
    out(json({ etag: result.etag, applied: result.applied, dryRun: values['dry-run'] === true, attempts: result.attempts, summary: result.summary, diff: result.diff }));
    return EXIT.ok;
  }
  const what = describeSummary(result.summary);
  if (values['dry-run']) out(`${renderDiff(result.diff ?? emptyDiff())}dry run: ${what ? `would apply ${what}` : 'no changes'} (etag ${result.etag})\n`);
  else out(what ? `applied: ${what} (etag ${result.etag})\n` : `no changes (etag ${result.etag})\n`);
  return EXIT.ok;
}

function emptyDiff() {
  return Object.fromEntries(KIND_NAMES.map((k) => [k, { added: [], removed: [], changed: [] }])) as never;
}

async function diff(client: NvgwClient, values: Values, format: OutputFormat, io: CliIo, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  const desired = await readState(io, values);
  const result = await client.sync(desired, { dryRun: true });
  if (format === 'json') {
    out(json({ etag: result.etag, summary: result.summary, diff: result.diff }));
    return EXIT.ok;
  }
  const text = renderDiff(result.diff ?? emptyDiff());
  out(text);
  err(text ? `${describeSummary(result.summary) ?? ''} (against etag ${result.etag})\n` : `no differences (etag ${result.etag})\n`);
  return EXIT.ok;
}

async function remove(client: NvgwClient, args: string[], values: Values, format: OutputFormat, out: (t: string) => void): Promise<number> {
  const kind = kindArg(args[0]);
  const keys = args.slice(1);
  const info = RESOURCES[kind];
  if (keys.length !== info.keyFields.length) throw new UsageError(`delete a ${info.singular} by ${info.keyFields.join(' ')} (${info.keyFields.length} value(s)), got ${keys.length}`);
  const result = await client.delete(kind, keys, { cascade: values.cascade === true });
  if (format === 'json') {
    out(json(result));
    return EXIT.ok;
  }
  if (result.deleted.length === 0) out(`${info.singular} ${keys.join(' ')} was already gone\n`);
  for (const d of result.deleted) out(`deleted ${RESOURCES[d.kind]?.singular ?? d.kind} ${d.key.replaceAll('|', ' ')}\n`);
  return EXIT.ok;
}

/** A 404 (NO_SUCH_ROUTE) from an endpoint a newer gateway has: the gateway does not offer it yet. */
class NotOffered extends Error {
  constructor(
    readonly what: string,
    override readonly cause: NvgwApiError,
  ) {
    super(`not offered: ${what}`);
  }
}

async function notYet<T>(what: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof NvgwApiError && error.status === 404) throw new NotOffered(what, error);
    throw error;
  }
}

async function trace(client: NvgwClient, args: string[], values: Values, format: OutputFormat, io: CliIo, out: (t: string) => void): Promise<number> {
  noArgs('trace', args);
  const given = [values.hex, values.packet, values.file].filter((v) => v !== undefined).length;
  if (given !== 1) throw new UsageError('trace takes one of --hex HEX, --packet DESCRIPTION or -f FILE (a JSON trace request)');
  let request: Record<string, unknown>;
  if (values.file !== undefined) {
    try {
      request = JSON.parse(await readInput(io, values.file, 'trace request')) as Record<string, unknown>;
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(`${values.file} is not valid JSON: ${(error as Error).message}`);
    }
  } else if (values.hex !== undefined) {
    const hex = values.hex.replace(/[\s:]/g, '');
    if (!/^([0-9a-fA-F]{2})+$/.test(hex)) throw new UsageError('--hex takes the packet as hex bytes (spaces and colons allowed)');
    request = { hex: hex.toLowerCase() };
  } else {
    request = { packet: values.packet };
  }
  if (values.ingress !== undefined) request.ingress = values.ingress;
  const result = await notYet('packet trace (POST /v1/trace)', () => client.trace(request));
  if (format === 'json') {
    out(json(result));
    return EXIT.ok;
  }
  const lines: string[] = [];
  (result.steps ?? []).forEach((step, i) => {
    const { step: name, detail, verdict, ...rest } = step;
    const extra = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
    lines.push(`${String(i + 1).padStart(2)}. ${name ?? ''}${detail ? `: ${detail}` : ''}${verdict ? ` [${verdict}]` : ''}${extra}`);
  });
  const { steps: _steps, ...others } = result;
  out(`${lines.length > 0 ? `${lines.join('\n')}\n` : ''}${Object.keys(others).length > 0 ? renderDocument(others) : ''}`);
  return EXIT.ok;
}

async function hnv(
  client: NvgwClient,
  options: ClientOptions,
  args: string[], values: Values, format: OutputFormat, io: CliIo, out: (t: string) => void, err: (t: string) => void): Promise<number> {
  let map: HnvMap | undefined;
  if (values.map !== undefined) {
    try {
      map = parseMapFile(await readInput(io, values.map, 'map file'), values.map);
    } catch (error) {
      throw error instanceof UsageError ? error : new UsageError((error as Error).message);
    }
  }
  if (values.export) {
    noArgs('hnv --export', args);
    if (values.interface !== undefined || values['dry-run']) throw new UsageError('hnv --export takes only --map');
    const { document } = await client.getConfig();
    out(exportScript(document, { interfaceIndex: interfaceIndexFrom(map) }));
    return EXIT.ok;
  }
  if (args.length !== 1) throw new UsageError('hnv runs one script: nvgwctl hnv FILE.ps1 (or - for stdin)');
  const file = args[0]!;
  const scriptName = file === '-' ? 'stdin' : file;
  const source = await readInput(io, file, 'script');
  let result: HnvRunResult;
  try {
    result = await runHnvScript(source, {
      defaultUrl: client.url,
      clientFor: (target) => (target === client.url ? client : new NvgwClient({ ...options, url: target })),
      interfaceName: values.interface,
      map,
      dryRun: values['dry-run'] === true,
    });
  } catch (error) {
    if (error instanceof HnvScriptError) {
      for (const p of error.problems) err(`${problemText(p, scriptName)}\n`);
      err(`nvgwctl: ${error.message}\n`);
      return EXIT.usage;
    }
    if (error instanceof HnvApiError) {
      const e = error.apiError;
      err(`nvgwctl: ${error.url === client.url ? 'the gateway' : error.url} refused the script: ${e.status} ${e.code}: ${e.message}\n`);
      for (const p of error.problems) err(`${problemText(p, scriptName)}\n`);
      err(error.appliedTo.length > 0 ? `nvgwctl: already applied to ${error.appliedTo.join(', ')}; nothing was applied to ${error.url}\n` : 'nvgwctl: nothing was applied\n');
      return EXIT.api;
    }
    throw error;
  }
  const indexOf = interfaceIndexFrom(map);
  if (format === 'json') {
    out(
      json({
        skipped: result.compiled.skipped,
        notes: result.notes,
        outputs: result.outputs.map(({ url, output }) => ({
          line: output.operation.origin.line,
          cmdlet: output.operation.origin.cmdlet,
          gateway: url,
          objects: output.items.map((item) => Object.fromEntries(hnvProperties(output.noun, item, { interfaceIndex: indexOf }))),
        })),
        gateways: result.targets.map((t) => ({ url: t.url, applied: t.sync?.applied ?? false, dryRun: values['dry-run'] === true, etag: t.sync?.etag, summary: t.sync?.summary })),
      }),
    );
    return EXIT.ok;
  }
  for (const s of result.compiled.skipped) err(`${scriptName}:${s.line}: skipped (${s.reason}): ${s.text}\n`);
  for (const n of result.notes) err(`${n.line === 0 ? `${scriptName}: note` : `${scriptName}:${n.line}:${n.col}: note`}: ${n.message}\n`);
  for (const { output } of result.outputs) out(formatList(output.items.map((item) => hnvProperties(output.noun, item, { interfaceIndex: indexOf }))));
  for (const t of result.targets) {
    const where = result.targets.length > 1 || t.url !== client.url ? ` ${t.url}` : '';
    if (!t.sync) continue;
    const what = describeSummary(t.sync.summary);
    if (values['dry-run']) err(`${renderDiff(t.sync.diff ?? emptyDiff())}dry run${where}: ${what ? `would apply ${what}` : 'no changes'} (etag ${t.sync.etag})\n`);
    else err(what ? `applied${where}: ${what} (etag ${t.sync.etag})\n` : `no changes${where} (etag ${t.sync.etag})\n`);
  }
  if (result.targets.every((t) => !t.sync) && result.compiled.operations.some((op) => op.op !== 'get')) err('no changes\n');
  return EXIT.ok;
}
