/**
 * nvgw's configuration: a JSON file (`--config FILE` or NVGW_CONFIG), overridden by
 * NVGW_* environment variables, checked against one convict schema. Unknown keys and bad
 * values stop start-up with a message naming the key and the problem.
 */
import { readFileSync } from 'node:fs';
import convict from 'convict';
import type { SharedTenantPortMode } from '../datapath/messages.js';

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const nonEmptyOrBlankPath = {
  name: 'optional-path',
  validate(value: unknown) {
    if (typeof value !== 'string') throw new Error('must be a file path string');
    if (value !== '' && !value.startsWith('/')) throw new Error(`must be an absolute path, got "${value}"`);
  },
};

const absolutePath = {
  name: 'absolute-path',
  validate(value: unknown) {
    if (typeof value !== 'string' || !value.startsWith('/')) throw new Error(`must be an absolute path, got ${JSON.stringify(value)}`);
  },
};

const bodyLimit = {
  name: 'byte-size',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[1-9][0-9]*(b|kb|mb)$/i.test(value)) throw new Error(`must be a size such as "64mb", got ${JSON.stringify(value)}`);
  },
};

const hostAddress = {
  name: 'host-address',
  validate(value: unknown) {
    if (typeof value !== 'string' || !/^[0-9a-fA-F:.]+$|^localhost$/.test(value)) throw new Error(`must be an IP address to bind (such as 127.0.0.1 or ::), got ${JSON.stringify(value)}`);
  },
};

const optionalIfname = {
  name: 'optional-ifname',
  validate(value: unknown) {
    if (typeof value !== 'string' || (value !== '' && !/^[A-Za-z0-9_.@-]{1,15}$/.test(value))) throw new Error(`must be a Linux interface name (1-15 characters) or empty, got ${JSON.stringify(value)}`);
  },
};

convict.addFormats({ 'optional-ifname': optionalIfname, 'optional-path': nonEmptyOrBlankPath, 'absolute-path': absolutePath, 'byte-size': bodyLimit, 'host-address': hostAddress });

const schema = {
  api: {
    host: { doc: 'Address the provider API binds to. Loopback unless you mean to expose it.', format: 'host-address', default: '127.0.0.1', env: 'NVGW_API_HOST' },
    port: { doc: 'TCP port of the provider API.', format: 'port', default: 8470, env: 'NVGW_API_PORT' },
    tokenFile: {
      doc: 'File holding the bearer token. Generated (mode 0600) on first start when missing.',
      format: 'absolute-path',
      default: '/var/lib/nvgw/api-token',
      env: 'NVGW_API_TOKEN_FILE',
    },
    bodyLimit: { doc: 'Largest request body accepted (413 beyond).', format: 'byte-size', default: '64mb', env: 'NVGW_API_BODY_LIMIT' },
    tls: {
      cert: { doc: 'PEM server certificate; empty for plain HTTP.', format: 'optional-path', default: '', env: 'NVGW_API_TLS_CERT' },
      key: { doc: 'PEM private key of the server certificate.', format: 'optional-path', default: '', env: 'NVGW_API_TLS_KEY' },
      clientCa: {
        doc: 'PEM CA bundle; when set, clients may authenticate with a certificate it signed (mTLS).',
        format: 'optional-path',
        default: '',
        env: 'NVGW_API_TLS_CLIENT_CA',
      },
    },
  },
  state: {
    path: { doc: 'SQLite database holding the desired state.', format: 'absolute-path', default: '/var/lib/nvgw/state.db', env: 'NVGW_STATE_PATH' },
    synchronous: {
      doc: 'full: a 2xx survives power loss (fsync per commit). normal: survives a process crash only.',
      format: ['full', 'normal'],
      default: 'full',
      env: 'NVGW_STATE_SYNCHRONOUS',
    },
  },
  log: {
    level: { doc: 'Log level.', format: [...LOG_LEVELS], default: 'info', env: 'NVGW_LOG_LEVEL' },
  },
  datapath: {
    fabricInterface: {
      doc: 'Interface that carries the provider addresses (NVGRE). Empty: control plane only, no data path.',
      format: 'optional-ifname',
      default: '',
      env: 'NVGW_DATAPATH_FABRIC_INTERFACE',
    },
    tenantInterfaceKind: {
      doc: 'veth: a veth pair per VSID read through packet rings; tap: a tap device per VSID.',
      format: ['veth', 'tap'],
      default: 'veth',
      env: 'NVGW_DATAPATH_TENANT_INTERFACE_KIND',
    },
    routeBetweenVsids: {
      doc: 'Route between the VSIDs of a routing domain in the data path itself (on-link routes to CAs with lookup records); false sends every packet through the kernel\'s domain table.',
      format: Boolean,
      default: true,
      env: 'NVGW_DATAPATH_ROUTE_BETWEEN_VSIDS',
    },
    sharedTenantPort: {
      doc: 'veth tenants: "on" reads them all through one packet port (one ring, one socket, filtered in the kernel by interface), "off" opens a port per VSID, "auto" shares from 64 VSIDs on (a port per VSID is faster for a few, the shared one scales to thousands).',
      format: ['auto', 'on', 'off'],
      default: 'auto',
      env: 'NVGW_DATAPATH_SHARED_TENANT_PORT',
    },
    connectionOffload: {
      doc: 'Carry the packets of established connections between tenants and external networks (NAT and routed) in the data path, once the kernel has opened them; false leaves every packet of them to the kernel\'s routing, conntrack and NAT.',
      format: Boolean,
      default: true,
      env: 'NVGW_DATAPATH_CONNECTION_OFFLOAD',
    },
    paMtu: { doc: 'MTU of the provider network; tenant interfaces get this minus the 42 bytes NVGRE adds.', format: 'nat', default: 1500, env: 'NVGW_DATAPATH_PA_MTU' },
    resyncSeconds: { doc: 'Full kernel and firewall reconcile period (drift repair).', format: 'nat', default: 30, env: 'NVGW_DATAPATH_RESYNC_SECONDS' },
    firstTable: { doc: 'First Linux routing table number given to a routing domain.', format: 'nat', default: 1000, env: 'NVGW_DATAPATH_FIRST_TABLE' },
  },
};

export interface NvgwConfig {
  api: {
    host: string;
    port: number;
    tokenFile: string;
    bodyLimit: string;
    tls: { cert: string; key: string; clientCa: string };
  };
  state: { path: string; synchronous: 'full' | 'normal' };
  log: { level: (typeof LOG_LEVELS)[number] };
  datapath: { fabricInterface: string; tenantInterfaceKind: 'veth' | 'tap'; routeBetweenVsids: boolean; sharedTenantPort: SharedTenantPortMode; connectionOffload: boolean; paMtu: number; resyncSeconds: number; firstTable: number };
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/**
 * Loads and validates the configuration. `file` may be undefined (defaults plus
 * environment). Throws ConfigError whose message names each bad key.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env): NvgwConfig {
  const config = convict(schema, { env, args: [] });
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`${file}: cannot read: ${(error as Error).message}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new ConfigError(`${file}: not valid JSON: ${(error as Error).message}`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${file}: must hold a JSON object`);
    try {
      config.load(parsed);
      // The environment wins over the file, as operators expect from NVGW_* overrides.
      config.load(envOverrides(env));
    } catch (error) {
      throw new ConfigError(`${file}: ${(error as Error).message}`);
    }
  }
  try {
    config.validate({ allowed: 'strict' });
  } catch (error) {
    const where = file ?? 'configuration';
    const lines = (error as Error).message.split('\n').filter(Boolean);
    throw new ConfigError(`${where}: ${lines.map(explainConvictLine).join('; ')}`);
  }
  const result = config.getProperties() as NvgwConfig;
  const tls = result.api.tls;
  if ((tls.cert === '') !== (tls.key === '')) throw new ConfigError(`${file ?? 'configuration'}: api.tls.cert and api.tls.key must be set together`);
  if (tls.clientCa !== '' && tls.cert === '') throw new ConfigError(`${file ?? 'configuration'}: api.tls.clientCa needs api.tls.cert and api.tls.key (mTLS runs over TLS)`);
  const dp = result.datapath;
  if (dp.paMtu < 576 + 42 || dp.paMtu > 65535) throw new ConfigError(`${file ?? 'configuration'}: datapath.paMtu: ${dp.paMtu} is outside ${576 + 42}..65535`);
  if (dp.firstTable < 256 || dp.firstTable > 0x7fff0000) throw new ConfigError(`${file ?? 'configuration'}: datapath.firstTable: ${dp.firstTable} must be 256..2147418112 (0-255 hold the kernel's own tables)`);
  if (dp.resyncSeconds < 1) throw new ConfigError(`${file ?? 'configuration'}: datapath.resyncSeconds must be at least 1`);
  return result;
}

/** convict applies env at construction; a loaded file would override it, so re-apply env after. */
function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (node: Record<string, unknown>, path: string[]): void => {
    for (const [name, value] of Object.entries(node)) {
      const spec = value as { env?: string; default?: unknown; format?: unknown };
      if (spec && typeof spec === 'object' && 'default' in spec) {
        const raw = spec.env ? env[spec.env] : undefined;
        if (raw !== undefined) {
          let target = out;
          for (const part of path) target = (target[part] ??= {}) as Record<string, unknown>;
          target[name] = spec.format === 'port' || spec.format === 'nat' ? Number(raw) : raw;
        }
      } else if (spec && typeof spec === 'object') {
        walk(spec as Record<string, unknown>, [...path, name]);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, []);
  return out;
}

function explainConvictLine(line: string): string {
  const undeclared = /configuration param '([^']+)' not declared in the schema/.exec(line);
  if (undeclared) return `unknown key "${undeclared[1]}"`;
  return line.trim();
}

/** Every key with its default, environment variable and meaning, for `nvgw config schema`. */
export function describeConfig(): string {
  const lines: string[] = [];
  const walk = (node: Record<string, unknown>, path: string[]): void => {
    for (const [name, value] of Object.entries(node)) {
      const spec = value as { doc?: string; env?: string; default?: unknown };
      if ('default' in spec) {
        lines.push(`${[...path, name].join('.')} = ${JSON.stringify(spec.default)}  (${spec.env ?? 'no env'})\n    ${spec.doc ?? ''}`);
      } else {
        walk(spec as Record<string, unknown>, [...path, name]);
      }
    }
  };
  walk(schema as unknown as Record<string, unknown>, []);
  return lines.join('\n');
}
