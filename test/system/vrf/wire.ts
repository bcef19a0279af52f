/**
 * What crossed an interface, as tcpdump's own dissector prints it (`-nn -v`): an independent
 * reading of the gateway's NVGRE that costs no tshark start (seconds under TCG).
 *
 *   const cap = await startWireCapture(lab, ns, 'eth0', 'ip proto 47 or icmp');
 *   ... traffic ...
 *   const text = await cap.stop();
 *   greFrames(text)          // [{ src, dst, key, vsid, flowId }]
 *   gre47Unreachables(text)  // [{ src, dst }]: ICMP "protocol 47 port N unreachable"
 */
import type { Lab } from '../../support/netns.js';

export interface WireCapture {
  stop(): Promise<string>;
}

export async function startWireCapture(lab: Lab, ns: string, ifname: string, filter: string): Promise<WireCapture> {
  const tcpdump = lab.spawn(ns, ['tcpdump', '-i', ifname, '-nn', '-v', '-l', filter]);
  await tcpdump.waitForOutput(/listening on/, 30_000);
  return {
    async stop() {
      // Let the last packets reach tcpdump's line-buffered output.
      await new Promise((resolve) => setTimeout(resolve, 500));
      await tcpdump.stop('SIGINT');
      return tcpdump.stdout();
    },
  };
}

export interface GreFrame {
  src: string;
  dst: string;
  key: number;
  vsid: number;
  flowId: number;
}

/** "10.1.1.40 > 10.1.1.60: GREv0, Flags [key present], key=0x1389b6, length 50" */
export function greFrames(text: string): GreFrame[] {
  return [...text.matchAll(/(\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): GREv0, Flags \[key present\], key=0x([0-9a-f]+)/g)].map((m) => {
    const key = parseInt(m[3]!, 16);
    return { src: m[1]!, dst: m[2]!, key, vsid: key >>> 8, flowId: key & 0xff };
  });
}

/** "10.1.1.60 > 10.1.1.40: ICMP 10.1.1.60 protocol 47 port 25944 unreachable" (ip_gre found no tunnel for the key). */
export function gre47Unreachables(text: string): { src: string; dst: string }[] {
  return [...text.matchAll(/(\d+\.\d+\.\d+\.\d+) > (\d+\.\d+\.\d+\.\d+): ICMP \S+ protocol 47 port \d+ unreachable/g)].map((m) => ({ src: m[1]!, dst: m[2]! }));
}
