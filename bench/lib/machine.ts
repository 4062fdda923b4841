// The machine's limit: sequential write then read bandwidth of a directory, measured with dd
// (1 MiB blocks). O_DIRECT is used when the file system supports it, so the page cache does not
// flatter the numbers; otherwise writes end with fdatasync and reads may come from the cache
// (dropping the caches of a shared machine is not an option), which the note says.
import { execa } from 'execa';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';

export interface DiskBandwidth {
  writeMBps: number;
  readMBps: number;
  note: string;
}

/** Parses dd's summary line: "N bytes (...) copied, S s, ..." → MB/s (10^6 bytes). */
export function ddMBps(stderr: string): number {
  const m = /(\d+) bytes .* copied, ([\d.,e+-]+) s/.exec(stderr);
  if (!m) throw new Error(`unexpected dd output: ${stderr.trim().split('\n').pop()}`);
  const seconds = Number(m[2]!.replace(',', '.'));
  return Number(m[1]) / 1e6 / seconds;
}

export async function measureDiskBandwidth(dir: string, mib = 1024): Promise<DiskBandwidth> {
  const file = join(dir, 'dd-bandwidth.tmp');
  const dd = (args: string[]) => execa('dd', ['bs=1M', `count=${mib}`, ...args], { reject: false });
  try {
    let note = `dd ${mib} MiB, 1 MiB blocks, O_DIRECT`;
    let w = await dd(['if=/dev/zero', `of=${file}`, 'oflag=direct']);
    if (w.exitCode !== 0) {
      note = `dd ${mib} MiB; no O_DIRECT here: write with conv=fdatasync, read possibly from the page cache (dropping caches on a shared machine is not done)`;
      w = await dd(['if=/dev/zero', `of=${file}`, 'conv=fdatasync']);
    }
    if (w.exitCode !== 0) throw new Error(`dd write failed: ${w.stderr}`);
    let r = await dd([`if=${file}`, 'of=/dev/null', 'iflag=direct']);
    if (r.exitCode !== 0) r = await dd([`if=${file}`, 'of=/dev/null']);
    if (r.exitCode !== 0) throw new Error(`dd read failed: ${r.stderr}`);
    return { writeMBps: ddMBps(w.stderr), readMBps: ddMBps(r.stderr), note };
  } finally {
    await rm(file, { force: true });
  }
}
