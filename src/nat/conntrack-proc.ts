/**
 * The kernel's connection table of the gateway's own network namespace, line by line
 * (/proc/net/nf_conntrack is per namespace). Streamed, so a table of a million entries is
 * never held in memory. No conntrack(8) binary or netlink socket is needed.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';

export const PROC_CONNTRACK = '/proc/net/nf_conntrack';

/** The lines of the conntrack table; none when the file is absent (conntrack not loaded: no connections). */
export async function* procConntrackLines(path = PROC_CONNTRACK): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = await new Promise<boolean>((resolve, reject) => {
    stream.once('open', () => resolve(true));
    stream.once('error', (error: NodeJS.ErrnoException) => (error.code === 'ENOENT' ? resolve(false) : reject(error)));
  });
  if (!opened) return;
  yield* createInterface({ input: stream, crlfDelay: Infinity });
}
