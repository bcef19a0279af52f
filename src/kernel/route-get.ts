/**
 * The kernel's own routing answer for a decapsulated packet, for `nvgw trace`: `ip -j
 * route get` through execa (argv array). rtnetlink's RTM_GETROUTE with RTA_IIF would do
 * the same, but `ip` already formats the answer an operator recognises.
 */
import { execa } from 'execa';

export async function routeGet(query: { dst: string; src: string; iif: string }): Promise<string> {
  const result = await execa('ip', ['-j', 'route', 'get', query.dst, 'from', query.src, 'iif', query.iif], { reject: false });
  if (result.exitCode !== 0) return `no route (${String(result.stderr).trim()})`;
  const [route] = JSON.parse(String(result.stdout)) as { dst?: string; dev?: string; gateway?: string; table?: string; type?: string }[];
  if (!route) return 'no route';
  return [route.type && route.type !== 'unicast' ? route.type : '', route.dst, route.gateway ? `via ${route.gateway}` : '', route.dev ? `dev ${route.dev}` : '', route.table ? `table ${route.table}` : '']
    .filter(Boolean)
    .join(' ');
}
