// Streams the qcow2 image of a sparse raw file (see qcow2-layout.ts) straight from the raw file:
// metadata clusters are computed on the fly, data clusters read from the raw file. Byte ranges
// are supported so an HTTP download can resume.
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { DiskFileReader } from './direct-reader.ts';
import type { Extent } from './extents.ts';
import { QCOW2_CLUSTER_SIZE, qcow2Layout, qcow2MetadataCluster, runAtHostCluster } from './qcow2-layout.ts';
import type { Qcow2Layout } from './qcow2-layout.ts';

export { qcow2Layout } from './qcow2-layout.ts';
export type { Qcow2Layout } from './qcow2-layout.ts';

const C = QCOW2_CLUSTER_SIZE;
const MAX_READ_CLUSTERS = 16; // 1 MiB per read

export interface Qcow2StreamOptions {
  /** First byte to send (default 0). */
  start?: number;
  /** Last byte to send, inclusive like an HTTP range (default: the image's last byte). */
  end?: number;
  /** Layout already computed with qcow2Layout(size, extents); computed from the file if absent. */
  layout?: Qcow2Layout;
}

/** A Readable of bytes [start, end] of the qcow2 image of `rawPath` with data in `extents`. */
export function createQcow2Stream(
  rawPath: string,
  extents: Extent[],
  opts: Qcow2StreamOptions = {},
): Readable {
  return Readable.from(qcow2Bytes(rawPath, extents, opts), { objectMode: false });
}

async function* qcow2Bytes(
  rawPath: string,
  extents: Extent[],
  opts: Qcow2StreamOptions,
): AsyncGenerator<Buffer> {
  const layout = opts.layout ?? qcow2Layout((await stat(rawPath)).size, extents);
  const start = opts.start ?? 0;
  const end = opts.end ?? layout.totalLength - 1;
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && start >= 0 && end < layout.totalLength)) {
    throw new RangeError(`range ${start}-${end} is outside the ${layout.totalLength}-byte image`);
  }
  const file = await DiskFileReader.open(rawPath);
  try {
    let pos = start;
    while (pos <= end) {
      const cluster = Math.floor(pos / C);
      let chunk: Buffer;
      let chunkStart: number;
      if (pos < layout.dataOffset) {
        chunk = qcow2MetadataCluster(layout, cluster);
        chunkStart = cluster * C;
      } else {
        const run = runAtHostCluster(layout, cluster);
        const lastCluster = Math.min(
          run.hostCluster + run.count - 1,
          Math.floor(end / C),
          cluster + MAX_READ_CLUSTERS - 1,
        );
        const count = lastCluster - cluster + 1;
        chunk = Buffer.alloc(count * C); // zero-filled: the raw file may end inside the last cluster
        const guestOffset = (run.guestCluster + (cluster - run.hostCluster)) * C;
        await file.read(chunk, 0, chunk.length, guestOffset);
        chunkStart = cluster * C;
      }
      const from = pos - chunkStart;
      const to = Math.min(chunk.length, end + 1 - chunkStart);
      yield chunk.subarray(from, to);
      pos = chunkStart + to;
    }
  } finally {
    await file.close();
  }
}
