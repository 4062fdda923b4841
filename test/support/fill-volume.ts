// Fills a mounted file system from outside, as another writer on the same volume (or a thin pool
// running dry) would: files holding real blocks (fallocate) of all the space but `leaveBytes`.
import { execa } from 'execa';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';

const MiB = 1024 * 1024;

/** The bytes an unprivileged writer may still use in the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/**
 * Allocates files `<name>-<n>` in `dir` until at most `leaveBytes` (+ 1 MiB) stay free; returns the
 * bytes allocated. ext4 needs blocks of its own for a file's extents, so a file of all the free
 * space does not fit: each try that fails takes a little less, and the next file takes what is left.
 */
export async function fillVolume(dir: string, leaveBytes = 0, name = 'chaos-filler'): Promise<number> {
  let allocated = 0;
  for (let file = 0; file < 8; file++) {
    let size = (await freeBytes(dir)) - leaveBytes;
    if (size < MiB) break;
    for (;;) {
      const r = await execa('fallocate', ['-l', String(size), join(dir, `${name}-${file}`)], {
        reject: false,
      });
      if (r.exitCode === 0) break;
      if (!/No space left/.test(r.stderr) || size < MiB) throw new Error(`fallocate: ${r.stderr}`);
      size = Math.floor(size * 0.97);
    }
    allocated += size;
  }
  return allocated;
}
