// Export of a server's disks, in boot order, as sparse raw files on the scratch volume: each disk
// is copied cloud-side into a Glance image (cloud-copies.ts), downloaded (glance-download.ts), and
// its temporary resources removed (temporaries.ts), also on failure.
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskFormatError } from '../../disk/errors.ts';
import { UnsafeImageError } from '../../disk/foreign-image.ts';
import { forEachDisk } from '../disk-pool.ts';
import { isScratchFull, scratchFullError } from '../scratch-full.ts';
import { SourceError } from '../source-error.ts';
import type { DiskProgress, ExportOptions, ExportedDisk } from '../types.ts';
import type { OpenstackClient } from './client.ts';
import { serverToImage, volumeToImage, type CloudCopyContext } from './cloud-copies.ts';
import { exportTiming, type ExportTiming, type OpenstackExportSettings } from './export-settings.ts';
import { downloadImage } from './glance-download.ts';
import { isImageBooted, rootDiskLabel, type CinderVolume, type NovaServer } from './server-model.ts';
import { removeJournaled, Temporaries } from './temporaries.ts';

/** The journal of temporary cloud resources on the scratch volume (temporaries.ts). */
const TEMPORARIES_JOURNAL = '.openstack-temporaries';

type DiskPlan = { index: number; label: string } & (
  { kind: 'volume'; volume: CinderVolume } | { kind: 'root' }
);

export class ServerExport {
  private readonly timing: ExportTiming;
  private readonly tag = randomBytes(3).toString('hex');

  constructor(
    private readonly client: OpenstackClient,
    settings: OpenstackExportSettings = {},
  ) {
    this.timing = exportTiming(settings);
  }

  async run(nameOrId: string, opts: ExportOptions): Promise<ExportedDisk[]> {
    await mkdir(opts.scratchDir, { recursive: true });
    const journal = join(opts.scratchDir, TEMPORARIES_JOURNAL);
    const earlier = await removeJournaled(this.client, this.timing, journal);
    if (earlier.length)
      this.client.log({
        level: 'warn',
        msg: 'temporary OpenStack resources of an earlier attempt left behind',
        resources: earlier,
      });
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
      // Every disk removed its temporaries (or logged what it could not): nothing left to journal.
      await rm(journal, { force: true });
    }
    if (firstError) {
      await Promise.all(results.map((d) => rm(d.path, { force: true })));
      if (firstError instanceof SourceError) throw firstError;
      if (isScratchFull(firstError)) throw scratchFullError(firstError);
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
    const temps = new Temporaries(join(opts.scratchDir, TEMPORARIES_JOURNAL));
    const progress = (p: Omit<DiskProgress, 'index'>) => opts.onProgress?.({ index: plan.index, ...p });
    progress({ phase: 'exporting', bytesDone: 0, bytesTotal: 0 });
    const name = `vm-import-${server.id.slice(0, 8)}-disk${plan.index}-${this.tag}`;
    try {
      const image =
        plan.kind === 'volume'
          ? await volumeToImage(this.copyContext(), plan.volume, name, temps, signal)
          : await serverToImage(this.copyContext(), server, name, temps, signal);
      const outPath = join(opts.scratchDir, `disk-${plan.index}.raw`);
      const written = await downloadImage(
        this.client.session,
        image,
        outPath,
        progress,
        signal,
        opts.stallTimeoutMs,
      );
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

  private copyContext(): CloudCopyContext {
    return { session: this.client.session, timing: this.timing };
  }
}
