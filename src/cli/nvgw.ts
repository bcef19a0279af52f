/**
 * `nvgw serve [--config FILE]` runs the gateway; `nvgw config check FILE` validates a
 * configuration without starting; `nvgw config schema` prints every key with its default.
 * Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error.
 */
import { ConfigError, describeConfig, loadConfig } from '../config/config.js';
import { NvgwError } from '../model/errors.js';
import { createLogger, startGateway } from '../main.js';
import { labCheck, labDown, labStatus, labUp } from '../lab/lab.js';
import { labSettings } from '../lab/state.js';

const USAGE = `usage:
  nvgw serve [--config FILE]      run the gateway (FILE may also come from NVGW_CONFIG)
  nvgw config check FILE          validate a configuration file and exit
  nvgw config schema              print the configuration keys, defaults and NVGW_* variables
  nvgw trace [--config FILE] (--hex HEX | --packet "k=v ...") [--ingress fabric|vsid:N] [--json]
                                  ask the running gateway what its data path would do with a packet
  nvgw lab up|status|check|down   the HNV example lab in network namespaces (root; NVGW_LAB_PREFIX,
                                  NVGW_LAB_DIR choose its name prefix and state directory)`;

function configFileFrom(args: string[]): string | undefined {
  const i = args.indexOf('--config');
  if (i >= 0) {
    const file = args[i + 1];
    if (!file) throw new ConfigError('--config needs a file name');
    return file;
  }
  return process.env.NVGW_CONFIG || undefined;
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === 'serve') {
    const config = loadConfig(configFileFrom(argv.slice(1)));
    const logger = createLogger(config.log.level);
    const gateway = await startGateway(config, logger);
    const stop = (signal: string) => {
      logger.info({ signal }, 'stopping');
      gateway.close().then(
        () => process.exit(0),
        (error: unknown) => {
          logger.error({ err: error }, 'error while stopping');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    return -1; // keep running
  }
  if (command === 'config' && sub === 'check') {
    const file = rest[0];
    if (!file) throw new ConfigError('config check needs a file name');
    loadConfig(file);
    console.log(`${file}: ok`);
    return 0;
  }
  if (command === 'trace') return trace(argv.slice(1));
  if (command === 'lab' && rest.length === 0) {
    const labCommands = { up: labUp, status: labStatus, check: labCheck, down: labDown } as const;
    if (sub === 'up' || sub === 'status' || sub === 'check' || sub === 'down') return labCommands[sub](labSettings(), (line) => console.log(line));
  }
  if (command === 'config' && sub === 'schema') {
    console.log(describeConfig());
    return 0;
  }
  console.error(USAGE);
  return 2;
}

function option(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** `nvgw trace`: posts to the local gateway's /v1/trace with the token from its config. */
async function trace(args: string[]): Promise<number> {
  const config = loadConfig(configFileFrom(args));
  const hex = option(args, '--hex');
  const packet = option(args, '--packet');
  if (!hex === !packet) {
    console.error('nvgw trace: give exactly one of --hex or --packet');
    return 2;
  }
  const { readFileSync } = await import('node:fs');
  const token = readFileSync(config.api.tokenFile, 'utf8').trim();
  const scheme = config.api.tls.cert !== '' ? 'https' : 'http';
  const host = config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host;
  const response = await fetch(`${scheme}://${host}:${config.api.port}/v1/trace`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ ingress: option(args, '--ingress') ?? 'fabric', ...(hex ? { hex } : { packet }) }),
  });
  const body = (await response.json()) as { verdict?: string; steps?: { step: string; detail: string }[]; message?: string };
  if (!response.ok) {
    console.error(`nvgw trace: ${response.status} ${body.message ?? ''}`);
    return 1;
  }
  if (args.includes('--json')) {
    console.log(JSON.stringify(body, null, 2));
    return 0;
  }
  for (const step of body.steps ?? []) console.log(`${step.step.padEnd(13)} ${step.detail}`);
  console.log(`${'verdict'.padEnd(13)} ${body.verdict ?? '?'}`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ConfigError) {
      console.error(`nvgw: configuration error: ${error.message}`);
      process.exitCode = 2;
    } else if (error instanceof NvgwError) {
      console.error(`nvgw: ${error.message}`);
      process.exitCode = 1;
    } else {
      const [command] = process.argv.slice(2);
      console.error(`nvgw: ${command === 'serve' ? 'failed to start' : `${command ?? ''} failed`}:`, error instanceof Error ? error.message : error);
      process.exitCode = 1;
    }
  },
);
