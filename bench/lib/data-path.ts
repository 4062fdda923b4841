// One run of a disk data path, end to end: the exporter (in its own process) writes the disk to
// scratch, a server serves it, the image downloader fetches it (and converts qcow2 to raw).
// Measures wall time (export start → downloader has the raw file), bytes read from the source,
// peak allocated bytes of the scratch dir, bytes served and the exporter's peak RSS, and checks
// that the downloaded disk equals the source disk.
import { execa } from 'execa';
import { mkdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { findDataExtents } from '../../functions/shared/disk/extents.ts';
import { qcow2Layout } from '../../functions/shared/disk/qcow2-stream.ts';
import { ensureBuilt } from '../../build.ts';
import { IMAGE_PROGRAMS } from '../../functions/shared/image-programs.ts';
import { downloadImage, sameDisk } from './downloader.ts';
import type { ExporterJob, ExporterResult } from './exporter-child.ts';
import type { WayMeasurement } from './report.ts';
import { samplePeakAllocated } from './scratch.ts';
import type { RunningServer } from './servers.ts';

const CHILD_SOURCE = 'bench/lib/exporter-child.ts';
/** The exporter child is bundled as the image's programs are, so it runs the shipped code's way. */
const CHILD_BUILD = join(import.meta.dirname, '..', 'work', 'build');
const CHILD = join(CHILD_BUILD, CHILD_SOURCE.replace(/\.ts$/, '.mjs'));

export interface WayRun extends WayMeasurement {
  exporter: ExporterResult;
  /** qcow2 metadata bytes of the served images (ours, where the server chose qcow2; else 0). */
  formatOverheadBytes: number;
  /** Format of each disk as received by the downloader (ours: the disk server's choice). */
  servedFormats: string[];
  /** Export (source → scratch, conversion included) and serve+download phases of the wall time. */
  exportSeconds: number;
  downloadSeconds: number;
  /** Not part of the wall time: comparing the downloaded disks with the source. */
  verifySeconds: number;
}

/** Runs the exporter child for `job` and returns its result. */
export async function runExporter(job: ExporterJob, resultFile: string): Promise<ExporterResult> {
  await rm(resultFile, { force: true });
  await ensureBuilt([CHILD_SOURCE], CHILD_BUILD);
  const r = await execa(process.execPath, [...IMAGE_PROGRAMS.exporter.nodeFlags, CHILD], {
    env: { BENCH_JOB: JSON.stringify(job), BENCH_RESULT: resultFile, LOG_LEVEL: 'warn' },
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
  });
  if (r.exitCode !== 0)
    throw new Error(`${job.way} ${job.source} export of ${job.vm} failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(await readFile(resultFile, 'utf8')) as ExporterResult;
}

export interface WayOptions {
  job: ExporterJob;
  /** Serves job.scratchDir: ours → the disk server (qcow2 or raw), upstream → the static file server (raw). */
  server: RunningServer;
  /** Where the downloader writes (Harvester's side, not scratch). */
  downloadDir: string;
  /** The source disk's raw content, per disk index. */
  sourceRaw: string[];
  workDir: string;
}

export async function runWay(o: WayOptions): Promise<WayRun> {
  await rm(o.job.scratchDir, { recursive: true, force: true });
  await rm(o.downloadDir, { recursive: true, force: true });
  await mkdir(o.job.scratchDir, { recursive: true });
  const sampler = samplePeakAllocated(o.job.scratchDir);
  let exporter: ExporterResult;
  let bytesServed = 0;
  let endedAt: number;
  let peakScratchBytes = 0;
  const downloaded: string[] = [];
  const servedFormats: string[] = [];
  try {
    exporter = await runExporter(o.job, join(o.workDir, `exporter-result-${o.job.way}.json`));
    for (const [i, file] of exporter.files.entries()) {
      // Ours: the bare name, so the disk server picks qcow2 or raw from the file's extents.
      const d = await downloadImage(o.server.urlOf(file), o.downloadDir, `disk-${i}`);
      bytesServed += d.bytesReceived;
      servedFormats.push(d.format);
      downloaded.push(d.rawPath);
    }
    endedAt = Date.now();
  } finally {
    peakScratchBytes = await sampler.stop();
  }
  if (downloaded.length !== o.sourceRaw.length)
    throw new Error(
      `${o.job.way} ${o.job.vm}: ${downloaded.length} disks downloaded, ${o.sourceRaw.length} expected`,
    );
  const verifyStart = Date.now();
  for (const [i, raw] of downloaded.entries()) {
    const cmp = await sameDisk(raw, o.sourceRaw[i]!);
    if (!cmp.same)
      throw new Error(
        `${o.job.way} ${o.job.vm} disk ${i}: downloaded image differs from the source: ${cmp.detail}`,
      );
  }
  const verifySeconds = (Date.now() - verifyStart) / 1000;
  let formatOverheadBytes = 0;
  if (o.job.way === 'ours') {
    for (const [i, file] of exporter.files.entries()) {
      const path = join(o.job.scratchDir, file);
      const { size } = await stat(path);
      if (size > 0 && servedFormats[i] === 'qcow2')
        formatOverheadBytes += qcow2Layout(size, await findDataExtents(path)).dataOffset;
    }
  }
  await rm(o.job.scratchDir, { recursive: true, force: true });
  await rm(o.downloadDir, { recursive: true, force: true });
  return {
    wallSeconds: (endedAt - exporter.startedAt) / 1000,
    sourceBytes: exporter.sourceBytes,
    peakScratchBytes,
    bytesServed,
    peakRssBytes: Math.max(exporter.nodeRssKiB, exporter.qemuRssKiB) * 1024,
    exporter,
    formatOverheadBytes,
    servedFormats,
    exportSeconds: (exporter.endedAt - exporter.startedAt) / 1000,
    downloadSeconds: (endedAt - exporter.endedAt) / 1000,
    verifySeconds,
  };
}
