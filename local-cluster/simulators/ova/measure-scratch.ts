// Measures the scratch space an OVA export needs: builds an OVA of one disk (default 2 GiB, 25 %
// allocated), serves it over HTTP, exports it and samples the allocated bytes (st_blocks × 512)
// of every file in the scratch directory every 20 ms. Prints one JSON line.
//   node --import tsx local-cluster/simulators/ova/measure-scratch.ts [--size-mib 2048] [--allocated 25]
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { exportOva } from '../../../functions/shared/sources/ova/export.ts';
import { buildOva } from './build-ova.ts';
import { startOvaServer } from './server.ts';

const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '2048' },
    allocated: { type: 'string', default: '25' },
  },
});
const sizeMiB = Number(values['size-mib']);
const allocatedPercent = Number(values.allocated);

async function allocatedBytesIn(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const info = await stat(join(dir, name)).catch(() => undefined);
    if (info?.isFile()) total += info.blocks * 512;
  }
  return total;
}

const root = await mkdtemp(join(tmpdir(), 'ova-scratch-measure-'));
try {
  const serve = join(root, 'serve');
  const built = await buildOva({
    name: 'big.ova',
    vm: {
      cpus: 1,
      memoryMiB: 256,
      firmware: 'bios',
      disks: [{ sizeMiB, controller: 'pvscsi', allocatedPercent, seed: 42 }],
      nics: [],
    },
    outPath: join(serve, 'big.ova'),
  });
  const ovaBytes = (await stat(built.path)).size;
  const server = await startOvaServer({ dir: serve });
  const scratchDir = join(root, 'scratch');
  let peak = 0;
  let samples = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await allocatedBytesIn(scratchDir));
      samples++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  const started = performance.now();
  const result = await exportOva({ url: `${server.baseUrl}/big.ova` }, undefined, { scratchDir });
  const seconds = (performance.now() - started) / 1000;
  sampling = false;
  await sampler;
  peak = Math.max(peak, await allocatedBytesIn(scratchDir));
  await server.stop();
  const disk = result.disks[0]!;
  process.stdout.write(
    `${JSON.stringify({
      diskSizeBytes: disk.sizeBytes,
      diskAllocatedBytes: disk.allocatedBytes,
      ovaBytes,
      peakScratchBytes: peak,
      peakScratchOverAllocated: Number((peak / disk.allocatedBytes).toFixed(4)),
      samples,
      exportSeconds: Number(seconds.toFixed(2)),
      throughputMiBps: Number((ovaBytes / 2 ** 20 / seconds).toFixed(1)),
    })}\n`,
  );
} finally {
  await rm(root, { recursive: true, force: true });
}
