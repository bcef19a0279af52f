/**
 * Desired-state sync, the reconcile loop of a controller: read the configuration and its
 * ETag, compute the desired document from it, and PUT it with If-Match, so a change that
 * someone else made meanwhile is never overwritten unseen. On 412 the loop reads again
 * and recomputes; a desired state given as a function (merge the script into what is
 * there) then merges into the other writer's result.
 *
 * The diff is the gateway's own (?dryRun=true), not a local one: the gateway normalises
 * spellings (MAC, GUID, IPv6) and fills defaults, and only its diff is certain to say
 * what the PUT will do. A PUT that changes nothing is answered applied:false and does
 * not move the revision, so an unchanged state costs no write.
 */
import type { NvgwClient } from './client.js';
import { NvgwApiError } from './errors.js';
import type { ConfigDiff, ConfigDocument, ConfigInput, ConfigSummary } from './types.js';

/** The whole desired document, or how to compute it from the current one. */
export type DesiredState = ConfigInput | ((current: ConfigDocument, etag: string) => ConfigInput | Promise<ConfigInput>);

export interface SyncOptions {
  /** Only ask the gateway for the diff; change nothing. */
  dryRun?: boolean;
  /** Reads + PUTs before giving up on a configuration that keeps changing; default 5. */
  maxAttempts?: number;
  /** Told when a PUT met 412 and the loop reads again. */
  onConflict?: (attempt: number, error: NvgwApiError) => void;
}

export interface SyncResult {
  etag: string;
  applied: boolean;
  summary: ConfigSummary;
  /** The gateway's diff of this sync (from its dry run). */
  diff: ConfigDiff | undefined;
  attempts: number;
  /** The state the change was computed against. */
  before: ConfigDocument;
  /** What was (or, for a dry run, would be) PUT. */
  desired: ConfigInput;
}

export async function syncConfig(client: NvgwClient, desired: DesiredState, options: SyncOptions = {}): Promise<SyncResult> {
  const maxAttempts = options.maxAttempts ?? 5;
  let lastConflict: NvgwApiError | undefined;
  for (let attempt = 1; attempt <= maxAttempts; attempt++) {
    const { document: before, etag } = await client.getConfig();
    const next = typeof desired === 'function' ? await desired(structuredClone(before), etag) : desired;
    try {
      const preview = await client.putConfig(next, { ifMatch: etag, dryRun: true });
      const unchanged = Object.values(preview.summary).every((s) => s.added + s.removed + s.changed === 0);
      if (options.dryRun || unchanged) {
        return { etag: preview.etag, applied: false, summary: preview.summary, diff: preview.diff, attempts: attempt, before, desired: next };
      }
      const result = await client.putConfig(next, { ifMatch: etag });
      return { etag: result.etag, applied: result.applied, summary: result.summary, diff: preview.diff, attempts: attempt, before, desired: next };
    } catch (error) {
      if (!(error instanceof NvgwApiError) || error.status !== 412) throw error;
      lastConflict = error;
      options.onConflict?.(attempt, error);
    }
  }
  throw new NvgwApiError({
    status: 412,
    code: 'PRECONDITION_FAILED',
    message: `gave up after ${maxAttempts} attempts: the configuration changed under every write (${lastConflict?.message ?? 'If-Match failed'})`,
    details: lastConflict?.details ?? [],
    method: 'PUT',
    url: lastConflict?.url ?? `${client.url}/v1/config`,
  });
}
