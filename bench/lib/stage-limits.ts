// The limit of the VMware data path, per stage (issue 24, build item 5): each stage of ours run
// alone on the same disk, so the report can say which one bounds the whole pipeline.
//   download:       the disk's VMDK over TLS from the export lease (axios with the session's TLS
//                   agent, as functions/shared/sources/vmware/export.ts), every byte read, none kept;
//   decode:         the same VMDK, from a local file, inflated into a sparse raw file on scratch
//                   (decodeStreamOptimizedVmdk: inflate + sparse write);
//   write:          the disk's data (the data extents of its raw content, from a local file) at
//                   their positions in a sparse raw file on scratch (SparseFileWriter, as the
//                   decoder writes each grain);
//   serve+download: the disk server to the image downloader, measured by the run of ours itself
//                   (WayRun.downloadSeconds: it starts from the exported file, so it is alone).
// Every stage reads its input from the page cache or the simulator, so the slowest of them is a
// floor for the pipeline's wall time on this machine.
import axios from 'axios';
import { createReadStream } from 'node:fs';
import { mkdir, open, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { VmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { decodeStreamOptimizedVmdk } from '../../functions/shared/disk/vmdk-stream.ts';
import { allocAligned } from '../../functions/shared/disk/aligned-buffer.ts';
import { findDataExtents } from '../../functions/shared/disk/extents.ts';
import { SparseFileWriter } from '../../functions/shared/disk/sparse-file.ts';
import { withExportLease } from './upstream-vmware.ts';

export interface StageSeconds {
  download: number;
  decode: number;
  write: number;
  serveDownload: number;
}

export type StageName = keyof StageSeconds;

export const STAGE_LABELS: Record<StageName, string> = {
  download: 'TLS download',
  decode: 'VMDK inflate + sparse write',
  write: 'sparse write',
  serveDownload: 'serve + download',
};

const READ_CHUNK = 1024 * 1024;

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
}

export interface VmwareStageInput {
  conn: VmwareConnection;
  dc: string;
  vm: string;
  /** The VMDKs the simulator serves for the VM's disks, and their raw contents, by disk index. */
  vmdkPaths: string[];
  rawPaths: string[];
  scratchDir: string;
}

/** The three stages of the export side, each alone, over all of the VM's disks (sequentially). */
export async function vmwareExportStages(i: VmwareStageInput): Promise<Omit<StageSeconds, 'serveDownload'>> {
  const download = await timed(() =>
    withExportLease(i.conn, i.dc, i.vm, async (s, urls, progress) => {
      let bytes = 0;
      for (const url of urls) {
        const res = await axios.get<NodeJS.ReadableStream>(url, {
          responseType: 'stream',
          httpsAgent: s.agent,
          headers: { Cookie: s.cookie },
          maxRedirects: 0,
        });
        for await (const chunk of res.data) bytes += (chunk as Buffer).length;
        progress(bytes);
      }
    }),
  );
  await mkdir(i.scratchDir, { recursive: true });
  const out = join(i.scratchDir, 'stage-limit.raw');
  let decode = 0;
  let write = 0;
  try {
    for (const vmdk of i.vmdkPaths) {
      decode += await timed(() =>
        decodeStreamOptimizedVmdk(createReadStream(vmdk, { highWaterMark: READ_CHUNK }), out),
      );
      await rm(out, { force: true });
    }
    for (const raw of i.rawPaths) {
      const extents = await findDataExtents(raw);
      write += await timed(() => writeExtents(raw, extents, out));
      await rm(out, { force: true });
    }
  } finally {
    await rm(out, { force: true });
  }
  return { download, decode, write };
}

/** Copies `extents` of `raw` to the same positions of a new sparse file `out`, 1 MiB at a time. */
async function writeExtents(raw: string, extents: { offset: number; length: number }[], out: string) {
  const input = await open(raw, 'r');
  const writer = await SparseFileWriter.create(out);
  try {
    await writer.setSize((await stat(raw)).size);
    const buf = allocAligned(READ_CHUNK);
    for (const e of extents) {
      for (let at = e.offset; at < e.offset + e.length;) {
        const { bytesRead } = await input.read(buf, 0, Math.min(READ_CHUNK, e.offset + e.length - at), at);
        if (bytesRead === 0) break;
        await writer.writeAt(buf.subarray(0, bytesRead), at);
        at += bytesRead;
      }
    }
    await writer.finish();
  } catch (err) {
    await writer.discard();
    throw err;
  } finally {
    await input.close();
  }
}

/** The slowest stage and its seconds. */
export function slowestStage(stages: StageSeconds): { stage: StageName; seconds: number } {
  const [stage, seconds] = (Object.entries(stages) as [StageName, number][]).reduce((a, b) =>
    b[1] > a[1] ? b : a,
  );
  return { stage, seconds };
}
