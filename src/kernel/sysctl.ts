/**
 * sysctls as files under /proc/sys. Keys are paths below it ("net/ipv4/conf/nvgw-t1/arp_ignore"),
 * not dotted names, because an interface name may itself contain a dot. /proc/sys/net shows
 * the network namespace of the process, so the adapter sets exactly its own namespace's values.
 */
import { readFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface SysctlPort {
  /** The value, trimmed; undefined when the key does not exist. */
  read(key: string): Promise<string | undefined>;
  /** Every key's value (keys that do not exist are left out), as read() would give them. */
  readAll(keys: readonly string[]): Promise<Map<string, string>>;
  write(key: string, value: string): Promise<void>;
}

export interface SysctlFs {
  readFile(file: string, encoding: 'utf8'): Promise<string>;
  readFileSync(file: string, encoding: 'utf8'): string;
  writeFile(file: string, data: string): Promise<void>;
}

/**
 * readAll() reads this many keys synchronously between two turns of the event loop: a
 * /proc/sys read is a few microseconds, while an asynchronous one costs a thread-pool round
 * trip (~0.2 ms), which made 10,000 keys (2,000 tenant links) two seconds of every pass.
 * 256 keys keep the API's loop blocked for about a millisecond at a time.
 */
const KEYS_PER_TURN = 256;

const isMissing = (error: unknown): boolean => typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT';

export function procSysctl(root = '/proc/sys', fs: SysctlFs = { readFile, readFileSync, writeFile }): SysctlPort {
  const fileOf = (key: string): string => {
    if (key.split('/').some((part) => part === '' || part === '.' || part === '..')) throw new TypeError(`not a sysctl key: ${key}`);
    return path.join(root, key);
  };
  return {
    async read(key) {
      try {
        return (await fs.readFile(fileOf(key), 'utf8')).trim();
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async readAll(keys) {
      const values = new Map<string, string>();
      for (let i = 0; i < keys.length; i++) {
        if (i > 0 && i % KEYS_PER_TURN === 0) await new Promise<void>((resolve) => setImmediate(resolve));
        const key = keys[i]!;
        try {
          values.set(key, fs.readFileSync(fileOf(key), 'utf8').trim());
        } catch (error) {
          if (!isMissing(error)) throw error;
        }
      }
      return values;
    },
    async write(key, value) {
      await fs.writeFile(fileOf(key), `${value}\n`);
    },
  };
}
