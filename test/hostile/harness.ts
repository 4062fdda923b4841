// Runs one hostile input in a sandbox: a fresh directory holding `scratch/` (where the code under
// test may write) and `outside/` (a canary it must never touch); the process's RSS is sampled
// while the case runs. The result says what was thrown and what was written where.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Sandbox {
  root: string;
  scratch: string;
  outside: string;
}

export interface CaseOutcome {
  error?: unknown;
  /** Entries of the sandbox root other than scratch/ and outside/ (anything written next to scratch). */
  strayEntries: string[];
  /** New entries in outside/ (the canary directory) and in scratch/. */
  outsideEntries: string[];
  scratchEntries: string[];
  peakRssGrowthBytes: number;
}

/** Why a case failed, as a condition would carry it. */
export function reasonOf(e: unknown): string {
  if (e && typeof e === 'object' && 'reason' in e && typeof (e as { reason: unknown }).reason === 'string')
    return (e as { reason: string }).reason;
  return `unclassified ${(e as Error)?.name ?? typeof e}: ${(e as Error)?.message ?? String(e)}`;
}

export async function runInSandbox(
  body: (s: Sandbox) => Promise<unknown>,
  prepare?: (s: Sandbox) => Promise<void>,
): Promise<CaseOutcome> {
  const root = await mkdtemp(join(tmpdir(), 'hostile-'));
  const scratch = join(root, 'scratch');
  const outside = join(root, 'outside');
  await mkdir(scratch);
  await mkdir(outside);
  await prepare?.({ root, scratch, outside });
  const outsideBefore = new Set(await readdir(outside));
  const scratchBefore = new Set(await readdir(scratch));
  const baseline = process.memoryUsage().rss;
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  let error: unknown;
  try {
    await body({ root, scratch, outside });
  } catch (e) {
    error = e;
  } finally {
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const outcome: CaseOutcome = {
    ...(error !== undefined ? { error } : {}),
    strayEntries: (await readdir(root)).filter((e) => e !== 'scratch' && e !== 'outside'),
    outsideEntries: (await readdir(outside)).filter((e) => !outsideBefore.has(e)),
    scratchEntries: (await readdir(scratch)).filter((e) => !scratchBefore.has(e)),
    peakRssGrowthBytes: peak - baseline,
  };
  await rm(root, { recursive: true, force: true });
  return outcome;
}
