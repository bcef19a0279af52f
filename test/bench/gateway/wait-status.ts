/**
 * Follows a gateway's /v1/status from inside its namespace, on one warm connection, every
 * 100 ms (the tests' ns-fetch would start a node process per request, which costs this
 * 2-core machine more CPU than the gateway's own reconcile):
 *
 *   ip netns exec NS node wait-status.js URL TOKENFILE SINCE_MS TENANTS TIMEOUT_MS
 *
 * Prints, when the data-path worker holds TENANTS ports (or has failed, or on timeout),
 * {firstPass, portsAt, status}: the first kernel reconcile pass that started at or after
 * SINCE_MS (wall clock) as /v1/status reported it, the wall-clock time the ports were all
 * open, and the last status.
 */
import { readFileSync } from 'node:fs';

interface Pass {
  at: string;
  durationMs: number;
  failed: unknown[];
  firewallError?: string;
}
interface Status {
  datapath?: { state?: string; error?: string; tenantPorts?: string[]; portErrors?: unknown[]; reconcile?: { lastPass?: Pass } };
}

const [url, tokenFile, sinceText, tenantsText, timeoutText] = process.argv.slice(2);
if (!url || !tokenFile) throw new Error('usage: wait-status.js URL TOKENFILE SINCE_MS TENANTS TIMEOUT_MS');
const authorization = `Bearer ${readFileSync(tokenFile, 'utf8').trim()}`;
const since = Number(sinceText);
const tenants = Number(tenantsText);
const deadline = Date.now() + Number(timeoutText);
let firstPass: Pass | undefined;
let status: Status = {};
let portsAt: number | undefined;
while (Date.now() < deadline) {
  try {
    const response = await fetch(new URL('/v1/status', url), { headers: { authorization } });
    status = (await response.json()) as Status;
  } catch {
    // the gateway may be busy starting; try again
  }
  const dp = status.datapath ?? {};
  const last = dp.reconcile?.lastPass;
  if (!firstPass && last && Date.parse(last.at) >= since - 50) firstPass = last;
  if (dp.state === 'failed') break;
  if (firstPass && (dp.tenantPorts?.length ?? 0) + (dp.portErrors?.length ?? 0) >= tenants) {
    portsAt = Date.now();
    break;
  }
  await new Promise((r) => setTimeout(r, 100));
}
process.stdout.write(JSON.stringify({ firstPass, portsAt, status }));
