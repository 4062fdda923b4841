// Worker thread: one Glance checksum (md5 or sha512) of a disk's content. From the content's
// definition (local-cluster/simulators/disk-content.ts) when it is one of the disk-content specs: the
// same bytes as the file, without paying the page cache for a multi-GiB read back. Otherwise
// (a volume the simulator padded to whole GiB) from the file.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import {
  BLOCK_BYTES,
  allocatedBlocks,
  blockData,
  type DiskContentSpec,
} from '../../local-cluster/simulators/disk-content.ts';

export type HashInput = { spec: DiskContentSpec } | { path: string };

const { input, algo } = workerData as { input: HashInput; algo: string };
const hash = createHash(algo);
if ('spec' in input) {
  const zeros = Buffer.alloc(BLOCK_BYTES);
  const data = new Set(allocatedBlocks(input.spec));
  for (let block = 0; block < input.spec.sizeMiB; block++)
    hash.update(data.has(block) ? blockData(input.spec.seed, block) : zeros);
} else {
  for await (const chunk of createReadStream(input.path, { highWaterMark: 4 * 1024 * 1024 }))
    hash.update(chunk as Buffer);
}
parentPort!.postMessage(hash.digest('hex'));
