/**
 * A two-namespace lab for the packet I/O system tests: namespaces nvgwio-<pid>-<tag>-a
 * and -b joined by a veth pair (p0 in a, p1 in b, 198.18.<net>.1/24 and .2/24, RFC 2544
 * benchmarking addresses that exist only inside these namespaces), plus an agent process
 * in each namespace that runs port operations on request.
 *
 * The veth pair is created under temporary names in the root namespace, then moved and
 * renamed (the root namespace has its own eth0 and must not see test devices for long).
 * destroy() ends the agents (by PID) and deletes the namespaces, which deletes every
 * device inside them; call it from after() so it runs whether or not the tests passed.
 */
import { execFileSync } from 'node:child_process';
import { Agent } from './agent-client.js';

export function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export function ipIn(ns: string, ...args: string[]): string {
  return ip('-n', ns, ...args);
}

export function linkMac(ns: string, dev: string): string {
  const match = /link\/ether ([0-9a-f:]{17})/.exec(ipIn(ns, 'link', 'show', 'dev', dev));
  if (!match?.[1]) throw new Error(`no MAC for ${dev} in ${ns}`);
  return match[1];
}

export function linkIndex(ns: string, dev: string): number {
  const [link] = JSON.parse(ipIn(ns, '-j', 'link', 'show', 'dev', dev)) as { ifindex?: number }[];
  if (link?.ifindex === undefined) throw new Error(`no ifindex for ${dev} in ${ns}`);
  return link.ifindex;
}

export function linkExists(ns: string, dev: string): boolean {
  try {
    ipIn(ns, 'link', 'show', 'dev', dev);
    return true;
  } catch {
    return false;
  }
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

let labCount = 0;

export class Lab {
  readonly nsA: string;
  readonly nsB: string;
  readonly net: number;
  readonly addressA: string;
  readonly addressB: string;
  macA = '';
  macB = '';
  readonly #agents: Agent[] = [];

  private constructor(tag: string, net: number) {
    this.nsA = `nvgwio-${process.pid}-${tag}-a`;
    this.nsB = `nvgwio-${process.pid}-${tag}-b`;
    this.net = net;
    this.addressA = `198.18.${net}.1`;
    this.addressB = `198.18.${net}.2`;
  }

  /** Creates the namespaces and the veth pair; on failure removes what it made and throws. */
  static create(tag: string): Lab {
    const lab = new Lab(tag, (labCount++ % 200) + 1);
    try {
      lab.#build();
    } catch (error) {
      lab.#removeNamespaces();
      throw error;
    }
    return lab;
  }

  #build(): void {
    const tmpA = `nvio${process.pid}${this.net}a`.slice(-15);
    const tmpB = `nvio${process.pid}${this.net}b`.slice(-15);
    ip('netns', 'add', this.nsA);
    ip('netns', 'add', this.nsB);
    try {
      ip('link', 'add', tmpA, 'type', 'veth', 'peer', 'name', tmpB);
      ip('link', 'set', tmpA, 'netns', this.nsA);
      ip('link', 'set', tmpB, 'netns', this.nsB);
    } catch (error) {
      try {
        ip('link', 'del', tmpA);
      } catch {
        // not created, or already moved: the namespaces' removal takes it
      }
      throw error;
    }
    ipIn(this.nsA, 'link', 'set', tmpA, 'name', 'p0');
    ipIn(this.nsB, 'link', 'set', tmpB, 'name', 'p1');
    for (const [ns, dev, address] of [
      [this.nsA, 'p0', this.addressA],
      [this.nsB, 'p1', this.addressB],
    ] as const) {
      ipIn(ns, 'link', 'set', 'lo', 'up');
      ipIn(ns, 'addr', 'add', `${address}/24`, 'dev', dev);
      ipIn(ns, 'link', 'set', dev, 'up');
    }
    this.macA = linkMac(this.nsA, 'p0');
    this.macB = linkMac(this.nsB, 'p1');
  }

  /**
   * Another veth pair, `nameA` in namespace a and `nameB` in b, up, without addresses.
   * Made in namespace a with its peer placed straight into b, so the root namespace never
   * holds it; the namespaces' removal deletes it.
   */
  addLink(nameA: string, nameB: string): void {
    ipIn(this.nsA, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', this.nsB);
    ipIn(this.nsA, 'link', 'set', nameA, 'up');
    ipIn(this.nsB, 'link', 'set', nameB, 'up');
  }

  /** Starts an agent process inside namespace a or b. */
  async agent(side: 'a' | 'b'): Promise<Agent> {
    const agent = await Agent.start(side === 'a' ? this.nsA : this.nsB);
    this.#agents.push(agent);
    return agent;
  }

  #removeNamespaces(): void {
    for (const ns of [this.nsA, this.nsB]) {
      try {
        ip('netns', 'del', ns);
      } catch {
        // never created
      }
    }
  }

  async destroy(): Promise<void> {
    await Promise.all(this.#agents.map((agent) => agent.stop()));
    this.#removeNamespaces();
  }
}

/** Namespaces this process created that are still there (for a leak check in after()). */
export function leftoverNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`nvgwio-${process.pid}-`));
}
