// Benchmark of the disk data path (prints numbers, asserts nothing).
//   node --import tsx bench/disk.ts [sizeMiB=2048] [allocatedPercent=25]
// A disk of the local-stack contract (random data in 1 MiB blocks, zeros elsewhere) is made into
// a streamOptimized VMDK (the form NFC exports and OVAs carry). Then:
//   (a) ours: the VMDK is streamed through decodeStreamOptimizedVmdk into a sparse raw file;
//   (b) upstream: the VMDK is written to scratch, then `qemu-img convert -f vmdk -O raw`.
// Measured: wall time, peak scratch bytes (allocated blocks in the scratch dir, sampled), peak RSS
// (our decoder runs in a child process; qemu-img via /usr/bin/time -v), and the bytes the disk
// server sends as qcow2 vs raw.
import { spawn } from 'node:child_process';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { execa } from 'execa';
import { writeDiskContent } from '../test/simulators/disk-content.ts';
import { decodeStreamOptimizedVmdk } from '../functions/shared/disk/vmdk-stream.ts';
import { findDataExtents } from '../functions/shared/disk/extents.ts';
import { createQcow2Stream, qcow2Layout } from '../functions/shared/disk/qcow2-stream.ts';

const MiB = 1024 * 1024;
const WORK = join(import.meta.dirname, 'work', 'disk');

async function scratchBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st) total += st.blocks * 512;
  }
  return total;
}

/** Samples the allocated bytes of `dir` every 50 ms while `work` runs; returns the peak. */
async function withScratchPeak<T>(dir: string, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await scratchBytes(dir));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const result = await work();
    peak = Math.max(peak, await scratchBytes(dir));
    return { result, peak };
  } finally {
    sampling = false;
    await sampler;
  }
}

const fmt = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const secs = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function childDecode(vmdk: string, out: string): Promise<void> {
  const r = await decodeStreamOptimizedVmdk(createReadStream(vmdk, { highWaterMark: 256 * 1024 }), out);
  process.stdout.write(
    JSON.stringify({ ...r, descriptor: undefined, maxRssKiB: process.resourceUsage().maxRSS }),
  );
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child-decode') return childDecode(process.argv[3]!, process.argv[4]!);
  const sizeMiB = Number(process.argv[2] ?? 2048);
  const allocatedPercent = Number(process.argv[3] ?? 25);
  const src = join(WORK, 'source');
  const scratchA = join(WORK, 'scratch-a');
  const scratchB = join(WORK, 'scratch-b');
  await rm(WORK, { recursive: true, force: true });
  for (const d of [src, scratchA, scratchB]) await mkdir(d, { recursive: true });

  const raw = join(src, 'disk.raw');
  const vmdk = join(src, 'disk.vmdk');
  let t = Date.now();
  const disk = await writeDiskContent(raw, { sizeMiB, allocatedPercent, seed: 42 });
  await execa('qemu-img', [
    'convert',
    '-f',
    'raw',
    '-O',
    'vmdk',
    '-o',
    'subformat=streamOptimized',
    raw,
    vmdk,
  ]);
  const vmdkBytes = (await stat(vmdk)).size;
  console.log(
    `disk: ${fmt(disk.sizeBytes)} virtual, ${fmt(disk.allocatedBytes)} allocated; streamOptimized VMDK ${fmt(vmdkBytes)} (made in ${secs(Date.now() - t)})`,
  );

  // (a) ours, in a child process so its peak RSS is its own.
  const outA = join(scratchA, 'disk.img');
  t = Date.now();
  const a = await withScratchPeak(scratchA, async () => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, import.meta.filename, '--child-decode', vmdk, outA],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((r) => child.on('close', r));
    if (code !== 0) throw new Error(`decoder child exited ${code}`);
    return JSON.parse(stdout) as { allocatedBytes: number; maxRssKiB: number };
  });
  const wallA = Date.now() - t;

  // (b) upstream: download the VMDK to scratch, then qemu-img convert, then delete the VMDK.
  const stagedB = join(scratchB, 'disk.vmdk');
  const outB = join(scratchB, 'disk.img');
  t = Date.now();
  const b = await withScratchPeak(scratchB, async () => {
    await pipeline(createReadStream(vmdk), createWriteStream(stagedB));
    const conv = await execa('/usr/bin/time', [
      '-v',
      'qemu-img',
      'convert',
      '-f',
      'vmdk',
      '-O',
      'raw',
      stagedB,
      outB,
    ]);
    await rm(stagedB);
    return Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(conv.stderr)?.[1] ?? NaN);
  });
  const wallB = Date.now() - t;

  const same = await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', outA, outB], { reject: false });
  const sameAsSource = await execa('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', raw, outA], {
    reject: false,
  });

  // What the disk server sends.
  t = Date.now();
  const extents = await findDataExtents(outA);
  const extentMs = Date.now() - t;
  const layout = qcow2Layout(disk.sizeBytes, extents);
  t = Date.now();
  let sent = 0;
  for await (const chunk of createQcow2Stream(outA, extents, { layout })) sent += (chunk as Buffer).length;
  const qcowMs = Date.now() - t;

  console.log('\n| path | wall | peak scratch | peak RSS | output allocated |');
  console.log('|---|---|---|---|---|');
  console.log(
    `| (a) stream decode (ours) | ${secs(wallA)} | ${fmt(a.peak)} | ${fmt(a.result.maxRssKiB * 1024)} (node process) | ${fmt((await stat(outA)).blocks * 512)} |`,
  );
  console.log(
    `| (b) download + qemu-img convert | ${secs(wallB)} | ${fmt(b.peak)} | ${fmt(b.result * 1024)} (qemu-img) | ${fmt((await stat(outB)).blocks * 512)} |`,
  );
  console.log(
    `\noutputs identical: ${same.exitCode === 0 ? 'yes' : 'NO'}; equal to source: ${sameAsSource.exitCode === 0 ? 'yes' : 'NO'}`,
  );
  console.log(
    `served as .img: ${fmt(disk.sizeBytes)}; as .qcow2: ${fmt(layout.totalLength)} (${((100 * layout.totalLength) / disk.sizeBytes).toFixed(1)}% of raw; metadata ${fmt(layout.dataOffset)}); ` +
      `extents in ${extentMs} ms (${extents.length} extents), qcow2 streamed in ${secs(qcowMs)} (${sent === layout.totalLength ? 'length ok' : 'LENGTH MISMATCH'})`,
  );
  await rm(WORK, { recursive: true, force: true });
}

await main();
