// Export of a server's disks, in boot order, as sparse raw files on the scratch volume.
//  * volume:   snapshot → volume from snapshot → os-volume_upload_image → image active → download
//  * image-booted root disk: Nova createImage → image active → download
// Every temporary snapshot, volume and image is removed in dependency order (image, then volume
// until it is gone, then snapshot), also on failure; what cannot be removed is logged.
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { writeSparseRaw } from '../../disk/sparse-raw.ts';
import { DiskFormatError } from '../../disk/errors.ts';
import { convertForeignImage, qemuFormatForGlance, UnsafeImageError } from '../../disk/foreign-image.ts';
import { MAX_DISK_BYTES } from '../../limits.ts';
import { forEachDisk } from '../disk-pool.ts';
import { SourceError } from '../source-error.ts';
import type { DiskProgress, ExportOptions, ExportedDisk } from '../types.ts';
import type { OpenstackClient } from './client.ts';
import { apiErrorMessage, httpError } from './http.ts';
import { isImageBooted, rootDiskLabel, type CinderVolume, type NovaServer } from './server-model.ts';
import { waitFor, type WaitVerdict } from './wait.ts';

export interface OpenstackExportSettings {
  /** OpenstackSource spec.uploadImageRetryCount (<= 0 or missing → 30). */
  uploadImageRetryCount?: number | null;
  /** OpenstackSource spec.uploadImageRetryDelay in seconds (<= 0 or missing → 10). */
  uploadImageRetryDelay?: number | null;
  /** First delay between status polls (ms, default 1000); doubles up to pollMaxMs. */
  pollInitialMs?: number;
  pollMaxMs?: number;
  /** Deadline of snapshot/volume waits (default 2 h, as upstream). */
  waitTimeoutMs?: number;
  /** Deadline of each cleanup step (default 10 min). */
  cleanupTimeoutMs?: number;
}

interface Timing {
  pollInitialMs: number;
  pollMaxMs: number;
  waitTimeoutMs: number;
  cleanupTimeoutMs: number;
  imagePollMaxMs: number;
  imageTimeoutMs: number;
}

/**
 * Upstream polls the uploaded image `count` times, `delay` seconds apart. We keep that total
 * budget (count × delay) as the deadline and poll with backoff capped at `delay`.
 */
export function timing(s: OpenstackExportSettings): Timing {
  const count = s.uploadImageRetryCount && s.uploadImageRetryCount > 0 ? s.uploadImageRetryCount : 30;
  const delayS = s.uploadImageRetryDelay && s.uploadImageRetryDelay > 0 ? s.uploadImageRetryDelay : 10;
  const pollMaxMs = s.pollMaxMs ?? 10_000;
  return {
    pollInitialMs: s.pollInitialMs ?? 1000,
    pollMaxMs,
    waitTimeoutMs: s.waitTimeoutMs ?? 2 * 3600_000,
    cleanupTimeoutMs: s.cleanupTimeoutMs ?? 600_000,
    imagePollMaxMs: delayS * 1000,
    imageTimeoutMs: count * delayS * 1000,
  };
}

type DiskPlan = { index: number; label: string } & (
  { kind: 'volume'; volume: CinderVolume } | { kind: 'root' }
);

interface GlanceImage {
  id: string;
  status?: string;
  size?: number | null;
  virtual_size?: number | null;
  disk_format?: string;
  checksum?: string | null;
  os_hash_algo?: string | null;
  os_hash_value?: string | null;
}

/** Temporary cloud resources, removed last-in first-out. */
class Temporaries {
  private readonly steps: Array<{ what: string; run: () => Promise<void> }> = [];
  add(what: string, run: () => Promise<void>): void {
    this.steps.push({ what, run });
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

const JSON_HEADERS = { 'Content-Type': 'application/json' };

export class ServerExport {
  private readonly t: Timing;
  private readonly tag = randomBytes(3).toString('hex');

  constructor(
    private readonly client: OpenstackClient,
    settings: OpenstackExportSettings = {},
  ) {
    this.t = timing(settings);
  }

  private get s() {
    return this.client.session;
  }

  async run(nameOrId: string, opts: ExportOptions): Promise<ExportedDisk[]> {
    await mkdir(opts.scratchDir, { recursive: true });
    const server = await this.client.findServer(nameOrId);
    const plans: DiskPlan[] = [];
    if (isImageBooted(server)) plans.push({ index: 0, kind: 'root', label: rootDiskLabel(server) });
    for (const volume of await this.client.volumesOf(server))
      plans.push({ index: plans.length, kind: 'volume', volume, label: `volume ${volume.id}` });
    if (!plans.length) throw new SourceError('NoDisks', `Server ${server.id} has no disk to export.`);
    for (const p of plans)
      opts.onProgress?.({ index: p.index, phase: 'pending', bytesDone: 0, bytesTotal: 0 });

    const inner = new AbortController();
    const onOuterAbort = () => inner.abort(opts.signal?.reason);
    opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
    const results: ExportedDisk[] = [];
    let firstError: unknown;
    try {
      await forEachDisk(plans, opts.concurrency ?? 2, inner, async (plan, signal) => {
        try {
          results.push(await this.exportDisk(server, plan, opts, signal));
        } catch (err) {
          opts.onProgress?.({ index: plan.index, phase: 'failed', bytesDone: 0, bytesTotal: 0 });
          throw err;
        }
      });
    } catch (err) {
      firstError = err;
    } finally {
      opts.signal?.removeEventListener('abort', onOuterAbort);
    }
    if (firstError) {
      await Promise.all(results.map((d) => rm(d.path, { force: true })));
      if (firstError instanceof SourceError) throw firstError;
      if (firstError instanceof UnsafeImageError || firstError instanceof DiskFormatError)
        throw new SourceError(firstError.reason, firstError.message);
      const code = (firstError as NodeJS.ErrnoException).code;
      // Local failures (the scratch volume): their messages name internal paths, so only the code.
      throw new SourceError(
        'ExportFailed',
        `Export of server ${server.id} failed: ${typeof code === 'string' ? `writing the scratch volume failed (${code})` : (firstError as Error).message.replaceAll(opts.scratchDir, '<scratch>')}`,
        { cause: firstError },
      );
    }
    return results.sort((a, b) => a.index - b.index);
  }

  private async exportDisk(
    server: NovaServer,
    plan: DiskPlan,
    opts: ExportOptions,
    signal: AbortSignal,
  ): Promise<ExportedDisk> {
    const temps = new Temporaries();
    const progress = (p: Omit<DiskProgress, 'index'>) => opts.onProgress?.({ index: plan.index, ...p });
    progress({ phase: 'exporting', bytesDone: 0, bytesTotal: 0 });
    const name = `vm-import-${server.id.slice(0, 8)}-disk${plan.index}-${this.tag}`;
    try {
      const image =
        plan.kind === 'volume'
          ? await this.volumeToImage(plan.volume, name, temps, signal)
          : await this.serverToImage(server, name, temps, signal);
      const outPath = join(opts.scratchDir, `disk-${plan.index}.raw`);
      const written = await this.download(image, outPath, progress, signal);
      progress({
        phase: 'done',
        bytesDone: image.size ?? written.sizeBytes,
        bytesTotal: image.size ?? written.sizeBytes,
      });
      return {
        index: plan.index,
        path: outPath,
        sizeBytes: written.sizeBytes,
        allocatedBytes: written.allocatedBytes,
      };
    } finally {
      const left = await temps.removeAll(this.client);
      if (left.length)
        this.client.log({
          level: 'warn',
          msg: 'temporary OpenStack resources left behind',
          disk: plan.label,
          resources: left,
        });
    }
  }

  // ---- cloud-side copies ----------------------------------------------------------------------

  private async volumeToImage(
    source: CinderVolume,
    name: string,
    temps: Temporaries,
    signal: AbortSignal,
  ): Promise<GlanceImage> {
    const snapRes = await this.s.call<{ snapshot: { id: string; size: number } }>('volume', '/snapshots', {
      method: 'POST',
      headers: JSON_HEADERS,
      data: {
        snapshot: { volume_id: source.id, name, description: 'temporary snapshot of vm-import', force: true },
      },
      what: `snapshotting volume ${source.id}`,
    });
    if (snapRes.status !== 202 && snapRes.status !== 200)
      throw httpError(snapRes.status, snapRes.data, `Snapshotting volume ${source.id}`);
    const snap = snapRes.data.snapshot;
    temps.add(`snapshot ${snap.id}`, () => this.deleteSnapshot(snap.id));
    await this.waitCinder('snapshots', snap.id, signal);

    const volRes = await this.s.call<{ volume: { id: string } }>('volume', '/volumes', {
      method: 'POST',
      headers: JSON_HEADERS,
      data: {
        volume: {
          size: snap.size ?? source.size,
          snapshot_id: snap.id,
          name,
          description: 'temporary volume of vm-import',
        },
      },
      what: `creating a volume from snapshot ${snap.id}`,
    });
    if (volRes.status !== 202 && volRes.status !== 200)
      throw httpError(volRes.status, volRes.data, `Creating a volume from snapshot ${snap.id}`);
    const vol = volRes.data.volume;
    temps.add(`volume ${vol.id}`, () => this.deleteVolume(vol.id));
    await this.waitCinder('volumes', vol.id, signal);

    const upRes = await this.s.call<{ 'os-volume_upload_image': { image_id: string } }>(
      'volume',
      `/volumes/${vol.id}/action`,
      {
        method: 'POST',
        headers: JSON_HEADERS,
        data: {
          'os-volume_upload_image': {
            image_name: name,
            disk_format: 'raw',
            container_format: 'bare',
            force: false,
          },
        },
        what: `uploading volume ${vol.id} to an image`,
      },
    );
    if (upRes.status !== 202 && upRes.status !== 200)
      throw httpError(upRes.status, upRes.data, `Uploading volume ${vol.id} to an image`);
    const imageId = upRes.data['os-volume_upload_image']?.image_id;
    if (!imageId)
      throw new SourceError(
        'OpenstackRequestFailed',
        `Cinder did not return an image ID for the upload of volume ${vol.id}.`,
      );
    temps.add(`image ${imageId}`, () => this.deleteImage(imageId));
    return this.waitImage(imageId, signal, vol.id);
  }

  private async serverToImage(
    server: NovaServer,
    name: string,
    temps: Temporaries,
    signal: AbortSignal,
  ): Promise<GlanceImage> {
    const res = await this.s.call<{ image_id?: string }>('compute', `/servers/${server.id}/action`, {
      method: 'POST',
      headers: JSON_HEADERS,
      data: { createImage: { name, metadata: { created_by: 'vm-import' } } },
      what: `creating an image of server ${server.id}`,
    });
    if (res.status !== 202) throw httpError(res.status, res.data, `Creating an image of server ${server.id}`);
    // ≥ 2.45: image_id in the body; older: the image URL in the Location header.
    const location = typeof res.headers.location === 'string' ? res.headers.location : '';
    const imageId = res.data?.image_id ?? location.split('/').pop();
    if (!imageId)
      throw new SourceError(
        'OpenstackRequestFailed',
        `Nova did not return the image of server ${server.id}.`,
      );
    temps.add(`image ${imageId}`, () => this.deleteImage(imageId));
    return this.waitImage(imageId, signal);
  }

  // ---- waits ----------------------------------------------------------------------------------

  private async cinderMessage(resourceId: string): Promise<string | undefined> {
    try {
      const res = await this.s.call<{ messages?: Array<{ user_message?: string }> }>(
        'volume',
        `/messages?resource_uuid=${resourceId}`,
        {
          method: 'GET',
          headers: { 'OpenStack-API-Version': 'volume 3.3' },
          what: `reading messages of ${resourceId}`,
        },
      );
      if (res.status !== 200) return undefined;
      const list = res.data.messages ?? [];
      return list[list.length - 1]?.user_message;
    } catch {
      return undefined;
    }
  }

  private async waitCinder(kind: 'snapshots' | 'volumes', id: string, signal: AbortSignal): Promise<void> {
    const what = `${kind === 'snapshots' ? 'snapshot' : 'volume'} ${id}`;
    await waitFor(
      async () => {
        const res = await this.s.call<Record<string, { status?: string }>>('volume', `/${kind}/${id}`, {
          method: 'GET',
          signal,
          what: `reading ${what}`,
        });
        if (res.status === 404) return { status: 'missing' };
        if (res.status !== 200) throw httpError(res.status, res.data, `Reading ${what}`);
        return res.data[kind === 'snapshots' ? 'snapshot' : 'volume'] ?? {};
      },
      (v): WaitVerdict => {
        if (v.status === 'available') return { done: true };
        if (v.status === 'missing') return { failed: `${what} disappeared` };
        if (v.status?.startsWith('error')) return { failed: `${what} went to status ${v.status}` };
        return { done: false };
      },
      {
        initialMs: this.t.pollInitialMs,
        maxMs: this.t.pollMaxMs,
        timeoutMs: this.t.waitTimeoutMs,
        signal,
        what: `${what} to become available`,
      },
      async (reason) => {
        const detail = await this.cinderMessage(id);
        return new SourceError('OpenstackResourceFailed', `${reason}${detail ? `: ${detail}` : ''}.`);
      },
    );
  }

  private async waitImage(id: string, signal: AbortSignal, uploadVolumeId?: string): Promise<GlanceImage> {
    return waitFor(
      async () => {
        const res = await this.s.call<GlanceImage>('image', `/images/${id}`, {
          method: 'GET',
          signal,
          what: `reading image ${id}`,
        });
        if (res.status === 404) return { id, status: 'missing' };
        if (res.status !== 200) throw httpError(res.status, res.data, `Reading image ${id}`);
        return res.data;
      },
      (img): WaitVerdict => {
        if (img.status === 'active') return { done: true };
        if (['killed', 'deleted', 'pending_delete', 'deactivated', 'missing'].includes(img.status ?? ''))
          return { failed: `image ${id} went to status ${img.status}` };
        return { done: false };
      },
      {
        initialMs: Math.min(this.t.pollInitialMs, this.t.imagePollMaxMs),
        maxMs: this.t.imagePollMaxMs,
        timeoutMs: this.t.imageTimeoutMs,
        signal,
        what: `image ${id} to become active (raise spec.uploadImageRetryCount or spec.uploadImageRetryDelay for large disks)`,
      },
      async (reason) => {
        const detail = uploadVolumeId ? await this.cinderMessage(uploadVolumeId) : undefined;
        return new SourceError('OpenstackResourceFailed', `${reason}${detail ? `: ${detail}` : ''}.`);
      },
    );
  }

  // ---- download -------------------------------------------------------------------------------

  private async download(
    image: GlanceImage,
    outPath: string,
    progress: (p: Omit<DiskProgress, 'index'>) => void,
    signal: AbortSignal,
  ): Promise<{ sizeBytes: number; allocatedBytes: number }> {
    const diskFormat = image.disk_format ?? 'raw';
    // Decided before downloading: an unsupported format costs no transfer.
    const foreignFormat = diskFormat === 'raw' ? undefined : qemuFormatForGlance(diskFormat);
    const res = await this.s.call<Readable>('image', `/images/${image.id}/file`, {
      method: 'GET',
      responseType: 'stream',
      timeout: 0,
      // Bounded below by the image's declared size instead of the JSON answer cap.
      maxContentLength: -1,
      signal,
      what: `downloading image ${image.id}`,
    });
    if (res.status !== 200) {
      res.data?.destroy?.();
      throw httpError(res.status, undefined, `Downloading image ${image.id}`);
    }
    const total = image.size ?? Number(res.headers['content-length'] ?? 0);
    const algo =
      image.os_hash_algo && image.os_hash_value ? image.os_hash_algo : image.checksum ? 'md5' : undefined;
    const expected =
      algo === 'md5' && !image.os_hash_value ? image.checksum : (image.os_hash_value ?? image.checksum);
    const hash = algo ? createHash(algo) : undefined;
    const onProgress = (bytesDone: number) => progress({ phase: 'exporting', bytesDone, bytesTotal: total });

    let result: { sizeBytes: number; allocatedBytes: number };
    if (foreignFormat === undefined) {
      // The writer feeds the hash in ~1 MiB pieces as the bytes pass: one pass, hashed once.
      result = await writeSparseRaw(res.data, outPath, {
        ...(image.size ? { sizeBytes: image.size } : { maxBytes: MAX_DISK_BYTES }),
        ...(hash ? { hash } : {}),
        onProgress,
        signal,
      });
    } else {
      // Glance must not send more than it declared (nor, undeclared, more than any disk can be).
      const limit = image.size || MAX_DISK_BYTES;
      let received = 0;
      const tap = new Transform({
        transform(chunk: Buffer, _enc, cb) {
          received += chunk.length;
          if (received > limit) {
            cb(
              new SourceError(
                'DiskSizeMismatch',
                `The download of image ${image.id} is longer than the ${limit} bytes ${image.size ? 'Glance declared' : 'accepted'}.`,
              ),
            );
            return;
          }
          hash?.update(chunk);
          cb(null, chunk);
        },
      });
      res.data.on('error', (e) => tap.destroy(e));
      res.data.pipe(tap);
      const tmp = `${outPath}.download.part`;
      try {
        tap.on('data', () => onProgress(received));
        await pipeline(tap, createWriteStream(tmp), { signal });
        this.check(hash, expected, image.id);
        progress({ phase: 'converting', bytesDone: total, bytesTotal: total });
        await convertForeignImage(tmp, foreignFormat, outPath, `image ${image.id}`, signal);
      } catch (err) {
        await rm(outPath, { force: true });
        throw err;
      } finally {
        await rm(tmp, { force: true });
      }
      const st = await stat(outPath);
      return { sizeBytes: st.size, allocatedBytes: st.blocks * 512 };
    }
    progress({ phase: 'verifying', bytesDone: total, bytesTotal: total });
    try {
      this.check(hash, expected, image.id);
    } catch (err) {
      await rm(outPath, { force: true });
      throw err;
    }
    return result;
  }

  private check(
    hash: ReturnType<typeof createHash> | undefined,
    expected: string | null | undefined,
    imageId: string,
  ): void {
    if (!hash || !expected) return;
    const actual = hash.digest('hex');
    if (actual !== expected)
      throw new SourceError(
        'ChecksumMismatch',
        `The download of image ${imageId} does not match its checksum; try again.`,
        { retryable: true },
      );
  }

  // ---- cleanup --------------------------------------------------------------------------------

  private cleanupWait<T>(poll: () => Promise<T>, judge: (v: T) => WaitVerdict, what: string): Promise<T> {
    return waitFor(poll, judge, {
      initialMs: this.t.pollInitialMs,
      maxMs: this.t.pollMaxMs,
      timeoutMs: this.t.cleanupTimeoutMs,
      what,
    });
  }

  private async deleteImage(id: string): Promise<void> {
    const res = await this.s.call('image', `/images/${id}`, {
      method: 'DELETE',
      what: `deleting image ${id}`,
    });
    if (res.status !== 204 && res.status !== 200 && res.status !== 404)
      throw httpError(res.status, res.data, `Deleting image ${id}`);
  }

  /** Deletes a volume and waits until it is gone (its snapshot cannot be deleted before). */
  private async deleteVolume(id: string): Promise<void> {
    await this.cleanupWait(
      async () => {
        const res = await this.s.call('volume', `/volumes/${id}`, {
          method: 'DELETE',
          what: `deleting volume ${id}`,
        });
        return res;
      },
      (res): WaitVerdict => {
        if (res.status === 202 || res.status === 404) return { done: true };
        // 400: still creating/uploading; try again once it settles.
        if (res.status === 400) return { done: false };
        return {
          failed: `deleting volume ${id} failed with HTTP ${res.status}: ${apiErrorMessage(res.data) ?? ''}`,
        };
      },
      `volume ${id} to accept deletion`,
    );
    await this.cleanupWait(
      () =>
        this.s.call<{ volume?: { status?: string } }>('volume', `/volumes/${id}`, {
          method: 'GET',
          what: `reading volume ${id}`,
        }),
      (res): WaitVerdict => {
        if (res.status === 404) return { done: true };
        if (res.data?.volume?.status === 'error_deleting')
          return { failed: `volume ${id} went to error_deleting` };
        return { done: false };
      },
      `volume ${id} to be deleted`,
    );
  }

  private async deleteSnapshot(id: string): Promise<void> {
    await this.cleanupWait(
      () => this.s.call('volume', `/snapshots/${id}`, { method: 'DELETE', what: `deleting snapshot ${id}` }),
      (res): WaitVerdict => {
        if (res.status === 202 || res.status === 404) return { done: true };
        if (res.status === 400) return { done: false };
        return {
          failed: `deleting snapshot ${id} failed with HTTP ${res.status}: ${apiErrorMessage(res.data) ?? ''}`,
        };
      },
      `snapshot ${id} to accept deletion`,
    );
    await this.cleanupWait(
      () =>
        this.s.call<{ snapshot?: { status?: string } }>('volume', `/snapshots/${id}`, {
          method: 'GET',
          what: `reading snapshot ${id}`,
        }),
      (res): WaitVerdict => {
        if (res.status === 404) return { done: true };
        if (res.data?.snapshot?.status === 'error_deleting')
          return { failed: `snapshot ${id} went to error_deleting` };
        return { done: false };
      },
      `snapshot ${id} to be deleted`,
    );
  }
}
