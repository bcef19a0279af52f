/**
 * sysctls as files under /proc/sys. Keys are paths below it ("net/ipv4/conf/nvgw-t1/arp_ignore"),
 * not dotted names, because an interface name may itself contain a dot. /proc/sys/net shows
 * the network namespace of the process, so the adapter sets exactly its own namespace's values.
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SysctlPort {
  /** The value, trimmed; undefined when the key does not exist. */
  read(key: string): Promise<string | undefined>;
  write(key: string, value: string): Promise<void>;
}

export interface SysctlFs {
  readFile(file: string, encoding: 'utf8'): Promise<string>;
  writeFile(file: string, data: string): Promise<void>;
}

export function procSysctl(root = '/proc/sys', fs: SysctlFs = { readFile, writeFile }): SysctlPort {
  const fileOf = (key: string): string => {
    if (key.split('/').some((part) => part === '' || part === '.' || part === '..')) throw new TypeError(`not a sysctl key: ${key}`);
    return path.join(root, key);
  };
  return {
    async read(key) {
      try {
        return (await fs.readFile(fileOf(key), 'utf8')).trim();
      } catch (error) {
        if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') return undefined;
        throw error;
      }
    },
    async write(key, value) {
      await fs.writeFile(fileOf(key), `${value}\n`);
    },
  };
}
