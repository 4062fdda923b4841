// Temporary snapshots, volumes and images of an export, and their removal: in dependency order
// (image, then volume until it is gone, then snapshot), also on failure; what cannot be removed is
// logged for the user to remove by hand.
import { appendFile, readFile, rm } from 'node:fs/promises';
import type { OpenstackClient } from './client.ts';
import type { ExportTiming } from './export-settings.ts';
import { apiErrorMessage, httpError } from './http.ts';
import type { OpenstackSession } from './session.ts';
import { waitFor, type WaitVerdict } from './wait.ts';

export type TemporaryKind = 'snapshot' | 'volume' | 'image';

/**
 * Temporary cloud resources, removed last-in first-out. Each is also noted in a journal on the
 * scratch volume as soon as the cloud names it: an exporter killed mid-export (the Job's pod
 * SIGKILLed) removes nothing, and the Job's next pod removes what the journal lists
 * (removeJournaled) before it starts over.
 */
export class Temporaries {
  private readonly steps: Array<{ what: string; run: () => Promise<void> }> = [];
  constructor(private readonly journal?: string) {}
  async add(kind: TemporaryKind, id: string, run: () => Promise<void>): Promise<void> {
    this.steps.push({ what: `${kind} ${id}`, run });
    if (this.journal) await appendFile(this.journal, `${JSON.stringify({ kind, id })}\n`);
  }
  async removeAll(client: OpenstackClient): Promise<string[]> {
    const failed: string[] = [];
    for (const step of this.steps.reverse()) {
      try {
        await step.run();
        client.log({ level: 'info', msg: `removed ${step.what}` });
      } catch (err) {
        failed.push(step.what);
        client.log({
          level: 'error',
          msg: `could not remove ${step.what}; remove it by hand`,
          error: (err as Error).message,
        });
      }
    }
    this.steps.length = 0;
    return failed;
  }
}

function cleanupWait<T>(
  timing: ExportTiming,
  poll: () => Promise<T>,
  judge: (v: T) => WaitVerdict,
  what: string,
): Promise<T> {
  return waitFor(poll, judge, {
    initialMs: timing.pollInitialMs,
    maxMs: timing.pollMaxMs,
    timeoutMs: timing.cleanupTimeoutMs,
    what,
  });
}

export async function deleteImage(session: OpenstackSession, id: string): Promise<void> {
  const res = await session.call('image', `/images/${id}`, {
    method: 'DELETE',
    what: `deleting image ${id}`,
  });
  if (res.status !== 204 && res.status !== 200 && res.status !== 404)
    throw httpError(res.status, res.data, `Deleting image ${id}`);
}

/** The Cinder resources a cleanup deletes, by their path segment. */
const CINDER_COLLECTIONS = { volume: 'volumes', snapshot: 'snapshots' } as const;
type CinderResource = keyof typeof CINDER_COLLECTIONS;

/** Deletes a Cinder volume or snapshot and waits until it is gone. */
async function deleteCinderResource(
  session: OpenstackSession,
  timing: ExportTiming,
  resource: CinderResource,
  id: string,
): Promise<void> {
  const path = `/${CINDER_COLLECTIONS[resource]}/${id}`;
  await cleanupWait(
    timing,
    () => session.call('volume', path, { method: 'DELETE', what: `deleting ${resource} ${id}` }),
    (res): WaitVerdict => {
      if (res.status === 202 || res.status === 404) return { done: true };
      // 400: still creating/uploading; try again once it settles.
      if (res.status === 400) return { done: false };
      return {
        failed: `deleting ${resource} ${id} failed with HTTP ${res.status}: ${apiErrorMessage(res.data) ?? ''}`,
      };
    },
    `${resource} ${id} to accept deletion`,
  );
  await cleanupWait(
    timing,
    () =>
      session.call<Partial<Record<CinderResource, { status?: string }>>>('volume', path, {
        method: 'GET',
        what: `reading ${resource} ${id}`,
      }),
    (res): WaitVerdict => {
      if (res.status === 404) return { done: true };
      if (res.data?.[resource]?.status === 'error_deleting')
        return { failed: `${resource} ${id} went to error_deleting` };
      return { done: false };
    },
    `${resource} ${id} to be deleted`,
  );
}

/** Deletes a volume and waits until it is gone (its snapshot cannot be deleted before). */
export const deleteVolume = (session: OpenstackSession, timing: ExportTiming, id: string): Promise<void> =>
  deleteCinderResource(session, timing, 'volume', id);

export const deleteSnapshot = (session: OpenstackSession, timing: ExportTiming, id: string): Promise<void> =>
  deleteCinderResource(session, timing, 'snapshot', id);

const KIND_ORDER: Record<TemporaryKind, number> = { image: 0, volume: 1, snapshot: 2 };

/**
 * Removes the temporaries an earlier, killed attempt noted in `journal` (an image before its volume
 * before its snapshot; already gone is fine), then the journal. Returns what could not be removed.
 */
export async function removeJournaled(
  client: OpenstackClient,
  timing: ExportTiming,
  journal: string,
): Promise<string[]> {
  const text = await readFile(journal, 'utf8').catch(() => '');
  const entries = text
    .split('\n')
    .filter(Boolean)
    .flatMap((line) => {
      try {
        const e = JSON.parse(line) as { kind?: unknown; id?: unknown };
        return typeof e.id === 'string' && typeof e.kind === 'string' && e.kind in KIND_ORDER
          ? [{ kind: e.kind as TemporaryKind, id: e.id }]
          : [];
      } catch {
        return []; // a line cut short by the kill
      }
    })
    .sort((a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
  const temps = new Temporaries();
  // removeAll runs last-in first-out.
  for (const e of entries.reverse()) {
    const remove =
      e.kind === 'image'
        ? () => deleteImage(client.session, e.id)
        : e.kind === 'volume'
          ? () => deleteVolume(client.session, timing, e.id)
          : () => deleteSnapshot(client.session, timing, e.id);
    await temps.add(e.kind, e.id, remove);
  }
  const left = await temps.removeAll(client);
  await rm(journal, { force: true });
  return left;
}
