// The exporter side of one benchmark run, in its own process so that its peak RSS is its own.
//   node bench/work/build/bench/lib/exporter-child.mjs   (its bundle, made by data-path.ts as the
//   image's programs are made; job in $BENCH_JOB, result written to $BENCH_RESULT)
// Modes: our single-pass export (the real source clients) or the re-creation of upstream's.
import { readFile, writeFile } from 'node:fs/promises';
import type { VmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { exportVmwareVm } from '../../functions/shared/sources/vmware/export.ts';
import { closeVmwareSessions } from '../../functions/shared/sources/vmware/session.ts';
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import { ServerExport } from '../../functions/shared/sources/openstack/export.ts';
import type { OpenstackConnection } from '../../functions/shared/sources/openstack/connection.ts';
import type { DiskProgress } from '../../functions/shared/sources/types.ts';
import { upstreamVmwareExport } from './upstream-vmware.ts';
import { upstreamOpenstackExport } from './upstream-openstack.ts';
import { maxOverlap, type Span } from './report.ts';

export type ExporterJob =
  | {
      way: 'ours' | 'upstream';
      source: 'vmware';
      conn: VmwareConnection;
      dc: string;
      vm: string;
      scratchDir: string;
      concurrency: number;
    }
  | {
      way: 'ours' | 'upstream';
      source: 'openstack';
      conn: OpenstackConnection;
      vm: string;
      scratchDir: string;
      concurrency: number;
      pollMs: number;
    };

export interface ExporterResult {
  /** Date.now() when the export started / ended (same clock as the parent). */
  startedAt: number;
  endedAt: number;
  sourceBytes: number;
  /** CPU seconds (user + system) of this node process: robust to a shared machine's load. */
  cpuSeconds: number;
  /**
   * Peak RSS of this node process (KiB): VmHWM, its own address space's high-water mark. Not
   * getrusage's maxRSS, which Linux carries over a fork and exec: it held the parent bench's RSS
   * at spawn time (every case, ours and upstream alike, reported the same figure).
   */
  nodeRssKiB: number;
  /** Peak RSS of the qemu-img children (KiB; upstream only). */
  qemuRssKiB: number;
  /** Files to serve, in the scratch dir, by disk index. */
  files: string[];
  /** When each disk's data was moving (ours only; from the progress callbacks). */
  diskSpans: Span[];
  maxDisksInParallel: number;
}

async function runJob(job: ExporterJob): Promise<ExporterResult> {
  const startedAt = Date.now();
  const bytesIn = new Map<number, number>();
  const spans = new Map<number, Span>();
  const onProgress = (p: DiskProgress) => {
    if (p.phase === 'exporting' && p.bytesDone > 0) {
      bytesIn.set(p.index, Math.max(bytesIn.get(p.index) ?? 0, p.bytesDone));
      const span = spans.get(p.index) ?? { start: Date.now(), end: Date.now() };
      span.end = Date.now();
      spans.set(p.index, span);
    }
  };
  let sourceBytes = 0;
  let qemuRssKiB = 0;
  let files: string[];
  if (job.way === 'ours') {
    const opts = { scratchDir: job.scratchDir, onProgress, concurrency: job.concurrency };
    const disks =
      job.source === 'vmware'
        ? await exportVmwareVm(job.conn, job.dc, { name: job.vm }, opts)
        : await new ServerExport(await OpenstackClient.connect(job.conn), {
            pollInitialMs: job.pollMs,
            pollMaxMs: job.pollMs,
            uploadImageRetryDelay: 1,
            uploadImageRetryCount: 600,
          }).run(job.vm, opts);
    files = disks.map((d) => d.path.split('/').pop()!);
    sourceBytes = [...bytesIn.values()].reduce((a, b) => a + b, 0);
  } else {
    const r =
      job.source === 'vmware'
        ? await upstreamVmwareExport(job.conn, job.dc, job.vm, job.scratchDir)
        : await upstreamOpenstackExport(job.conn, job.vm, job.scratchDir, job.pollMs);
    files = r.files;
    sourceBytes = r.sourceBytes;
    qemuRssKiB = r.qemuRssKiB;
  }
  const endedAt = Date.now();
  const diskSpans = [...spans.values()];
  return {
    startedAt,
    endedAt,
    sourceBytes,
    cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    nodeRssKiB: Number(/^VmHWM:\s+(\d+) kB$/m.exec(await readFile('/proc/self/status', 'utf8'))![1]),
    qemuRssKiB,
    files,
    diskSpans,
    maxDisksInParallel: maxOverlap(diskSpans),
  };
}

if (import.meta.filename === process.argv[1]) {
  const job = JSON.parse(process.env.BENCH_JOB ?? 'null') as ExporterJob;
  const result = await runJob(job);
  await closeVmwareSessions();
  await writeFile(process.env.BENCH_RESULT!, JSON.stringify(result));
  process.exit(0); // keep-alive agents of the source clients would hold the process open
}
