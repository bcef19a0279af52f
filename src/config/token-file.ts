/**
 * The API bearer token lives in a file, never in the config or the log. On first start
 * nvgw generates one (mode 0600) and logs only where it is.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface TokenResult {
  token: string;
  generated: boolean;
  /** Set when the file is readable by group or others. */
  warning?: string;
}

export function loadOrCreateToken(path: string, random: (bytes: number) => Buffer = randomBytes): TokenResult {
  let text: string | undefined;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw new Error(`api.tokenFile ${path}: cannot read: ${(error as Error).message}`);
  }
  if (text === undefined) {
    const token = random(32).toString('base64url');
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    // 'wx' fails if another process created it meanwhile, rather than overwrite its token.
    writeFileSync(path, `${token}\n`, { mode: 0o600, flag: 'wx' });
    return { token, generated: true };
  }
  const token = text.trim();
  if (token.length < 16 || /\s/.test(token)) throw new Error(`api.tokenFile ${path}: must hold one token of at least 16 characters without spaces`);
  const mode = statSync(path).mode & 0o777;
  const result: TokenResult = { token, generated: false };
  if ((mode & 0o077) !== 0) result.warning = `api.tokenFile ${path} is readable by group or others (mode ${mode.toString(8)}); chmod 600 it`;
  return result;
}
