// Allocated bytes (st_blocks × 512) of everything under a directory, and a sampler of their peak.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';

/** Sum of st_blocks × 512 of every regular file under `dir` (recursively); 0 if it is missing. */
export async function allocatedBytesUnder(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const path = join(dir, e.name);
    if (e.isDirectory()) total += await allocatedBytesUnder(path);
    else {
      const st = await stat(path).catch(() => undefined);
      if (st?.isFile()) total += st.blocks * 512;
    }
  }
  return total;
}

export interface PeakSampler {
  /** Stops sampling (after one last sample) and returns the peak seen. */
  stop(): Promise<number>;
}

/** Samples the allocated bytes under `dir` every `intervalMs` until stopped. */
export function samplePeakAllocated(dir: string, intervalMs = 50): PeakSampler {
  let peak = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      peak = Math.max(peak, await allocatedBytesUnder(dir));
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return Math.max(peak, await allocatedBytesUnder(dir));
    },
  };
}
