// Stage timings of the disk writers without network (prints numbers, asserts nothing):
//   node --import tsx bench/profile-disk.ts <vmdk|raw|raw-main|raw-tap> <input file> [out dir]
// vmdk: decodeStreamOptimizedVmdk(file stream) → sparse raw; raw: writeSparseRaw(file stream)
// → sparse raw, verifying sha512 as the OpenStack client does (raw: the writer feeds a worker
// thread's hash per 1 MiB stage; raw-main: the same on the writing thread; raw-tap: a Transform
// hashing each chunk). The file is read in 16 KiB chunks, the
// size of TLS records, as a download delivers them. Prints wall and CPU seconds.
import { OffThreadHash } from '../functions/shared/disk/off-thread-hash.ts';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { decodeStreamOptimizedVmdk } from '../functions/shared/disk/vmdk-stream.ts';
import { writeSparseRaw } from '../functions/shared/disk/sparse-raw.ts';

const [kind, input, outDir = join(import.meta.dirname, 'work', 'prof')] = process.argv.slice(2);
if (!kind || !input) throw new Error('usage: profile-disk.ts <vmdk|raw> <input> [outDir]');
const out = join(outDir, 'out.raw');
const size = (await stat(input)).size;
const cpu0 = process.cpuUsage();
const t0 = performance.now();
const src = createReadStream(input, { highWaterMark: 16 * 1024 });
let r: { allocatedBytes: number };
if (kind === 'vmdk') r = await decodeStreamOptimizedVmdk(src, out);
else if (kind === 'raw') {
  // As the Glance download hashes: on a worker thread.
  const hash = new OffThreadHash('sha512');
  r = await writeSparseRaw(src, out, { sizeBytes: size, hash });
  await hash.digest();
} else if (kind === 'raw-main') {
  // The way before OffThreadHash: the same pieces hashed on the thread that reads and writes.
  const hash = createHash('sha512');
  r = await writeSparseRaw(src, out, { sizeBytes: size, hash: { update: (d) => void hash.update(d) } });
  hash.digest('hex');
} else {
  const hash = createHash('sha512');
  const tap = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  src.pipe(tap);
  r = await writeSparseRaw(tap, out, { sizeBytes: size });
  hash.digest('hex');
}
const wall = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
console.log(
  JSON.stringify({
    kind,
    inputMiB: +(size / 2 ** 20).toFixed(0),
    allocatedMiB: +(r.allocatedBytes / 2 ** 20).toFixed(0),
    wallS: +wall.toFixed(2),
    cpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    inputMBps: +(size / 1e6 / wall).toFixed(0),
    rssMiB: +(process.resourceUsage().maxRSS / 1024).toFixed(0),
  }),
);
await rm(out, { force: true });
