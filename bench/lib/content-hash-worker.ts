// Worker thread: one Glance checksum (md5 or sha512) of a disk-content spec, computed from the
// content's definition (test/simulators/disk-content.ts) instead of reading the file back: the
// same bytes, without paying the page cache for a multi-GiB read.
import { createHash } from 'node:crypto';
import { parentPort, workerData } from 'node:worker_threads';
import {
  BLOCK_BYTES,
  allocatedBlocks,
  blockData,
  type DiskContentSpec,
} from '../../test/simulators/disk-content.ts';

const { spec, algo } = workerData as { spec: DiskContentSpec; algo: string };
const hash = createHash(algo);
const zeros = Buffer.alloc(BLOCK_BYTES);
const data = new Set(allocatedBlocks(spec));
for (let block = 0; block < spec.sizeMiB; block++)
  hash.update(data.has(block) ? blockData(spec.seed, block) : zeros);
parentPort!.postMessage(hash.digest('hex'));
