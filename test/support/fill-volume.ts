// Fills a mounted file system from outside, as another writer on the same volume (or a thin pool
// running dry) would: one file holding real blocks (fallocate) of all the space but `leaveBytes`.
import { execa } from 'execa';
import { statfs } from 'node:fs/promises';
import { join } from 'node:path';

/** The bytes an unprivileged writer may still use in the file system holding `dir`. */
export async function freeBytes(dir: string): Promise<number> {
  const s = await statfs(dir);
  return s.bavail * s.bsize;
}

/** Allocates a file `name` in `dir` so that at most `leaveBytes` stay free; returns its size. */
export async function fillVolume(dir: string, leaveBytes = 0, name = 'chaos-filler'): Promise<number> {
  const size = Math.max(0, (await freeBytes(dir)) - leaveBytes);
  if (size > 0) await execa('fallocate', ['-l', String(size), join(dir, name)]);
  return size;
}
