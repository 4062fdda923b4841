// Pure logic of the benchmark report: overlap of disk exports, ratios, the goals and the table.
import { slowestStage, STAGE_LABELS, type StageSeconds } from './stage-limits.ts';

export interface Span {
  start: number;
  end: number;
}

/** The largest number of spans that overlap at one instant. */
export function maxOverlap(spans: Span[]): number {
  const edges = spans.flatMap((s) => [
    { t: s.start, d: 1 },
    { t: s.end, d: -1 },
  ]);
  // At equal times, ends come first: touching spans do not overlap.
  edges.sort((a, b) => a.t - b.t || a.d - b.d);
  let now = 0;
  let max = 0;
  for (const e of edges) max = Math.max(max, (now += e.d));
  return max;
}

export interface WayMeasurement {
  wallSeconds: number;
  sourceBytes: number;
  peakScratchBytes: number;
  bytesServed: number;
  peakRssBytes: number;
}

export interface CaseMeasurement {
  source: 'vmware' | 'openstack';
  sizeBytes: number;
  allocatedBytes: number;
  /** qcow2 metadata our disk server adds (header, L1, refcounts, L2). */
  formatOverheadBytes: number;
  ours: WayMeasurement;
  upstream: WayMeasurement;
  /** Each stage of ours alone on the same disk (bench/lib/stage-limits.ts), where measured. */
  stages?: StageSeconds;
}

export interface ControlPlane {
  transitionP50Ms: number | null;
  transitionP99Ms: number | null;
  oneImportSeconds: number | null;
  twentyImportsSeconds: number | null;
}

export interface Machine {
  readMBps: number;
  writeMBps: number;
}

/** bench/results.json, in the shape the checks read. */
/** Every function run as its pod runs it (bench/lib/functions-footprint.ts). */
export interface FunctionsMeasurement {
  /** Process start → first event handled, over all samples of all functions. */
  coldStartMs: { p50: number; max: number };
  /** Resident memory 30 s after the first handled event, the largest function. */
  idleRssBytes: { max: number };
}

export function functionGoals(f: FunctionsMeasurement | null): Goal[] {
  if (!f)
    return [
      { goal: 'functions: cold start p50 <= 500 ms', met: false, detail: 'not measured' },
      { goal: 'functions: idle RSS <= 100 MiB', met: false, detail: 'not measured' },
    ];
  return [
    {
      goal: 'functions: cold start p50 <= 500 ms',
      met: f.coldStartMs.p50 <= 500,
      detail: `p50 ${f.coldStartMs.p50.toFixed(0)} ms, max ${f.coldStartMs.max.toFixed(0)} ms`,
    },
    {
      goal: 'functions: idle RSS <= 100 MiB',
      met: f.idleRssBytes.max <= 100 * MiB,
      detail: `largest ${mib(f.idleRssBytes.max)}`,
    },
  ];
}

export function resultsJson(
  machine: Machine,
  cases: CaseMeasurement[],
  controlPlane: ControlPlane,
  functions: FunctionsMeasurement | null,
) {
  const way = (w: WayMeasurement) => ({
    wallSeconds: round(w.wallSeconds, 3),
    peakScratchBytes: w.peakScratchBytes,
    bytesServed: w.bytesServed,
    peakRssBytes: w.peakRssBytes,
  });
  return {
    machine: { readMBps: round(machine.readMBps, 1), writeMBps: round(machine.writeMBps, 1) },
    cases: cases.map((c) => ({
      source: c.source,
      sizeBytes: c.sizeBytes,
      allocatedBytes: c.allocatedBytes,
      ours: {
        ...way(c.ours),
        ...(c.stages ? { limitSeconds: round(slowestStage(c.stages).seconds, 3) } : {}),
      },
      upstream: way(c.upstream),
    })),
    controlPlane,
    functions: functions && {
      coldStartMs: { p50: round(functions.coldStartMs.p50, 1), max: round(functions.coldStartMs.max, 1) },
      idleRssBytes: { max: functions.idleRssBytes.max },
    },
  };
}

const round = (n: number, digits: number) => Math.round(n * 10 ** digits) / 10 ** digits;

export function percentile(values: number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
export const mib = (b: number) => `${(b / MiB).toFixed(1)}M`;
const size = (b: number) => (b % GiB === 0 ? `${b / GiB}G` : mib(b));

export function caseName(c: { source: string; sizeBytes: number; allocatedBytes: number }): string {
  const pct = c.sizeBytes ? Math.round((100 * c.allocatedBytes) / c.sizeBytes) : 0;
  return `${c.source} ${size(c.sizeBytes)} ${pct}%`;
}

export function table(cases: CaseMeasurement[], machine: Machine): string {
  const head = [
    'case',
    'way',
    'wall s',
    'source',
    'peak scratch',
    'served',
    'peak RSS',
    'ours/up wall',
    'ours/up scratch',
    'ours/up served',
    'ours/limit',
  ];
  const rows: string[][] = [head];
  for (const c of cases) {
    for (const [name, w] of [
      ['ours', c.ours],
      ['upstream', c.upstream],
    ] as const) {
      const ours = name === 'ours';
      rows.push([
        ours ? caseName(c) : '',
        name,
        w.wallSeconds.toFixed(2),
        mib(w.sourceBytes),
        mib(w.peakScratchBytes),
        mib(w.bytesServed),
        mib(w.peakRssBytes),
        ours ? (c.ours.wallSeconds / c.upstream.wallSeconds).toFixed(2) : '',
        ours ? (c.ours.peakScratchBytes / c.upstream.peakScratchBytes).toFixed(2) : '',
        ours ? (c.ours.bytesServed / c.upstream.bytesServed).toFixed(2) : '',
        // Bytes the user needs moved (the allocated data) per second vs. the disk's write bandwidth.
        `${((c.allocatedBytes / 1e6 / w.wallSeconds / machine.writeMBps) * 100).toFixed(0)}%`,
      ]);
    }
  }
  const widths = head.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) => r.map((v, i) => (i < 2 ? v.padEnd(widths[i]!) : v.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export interface Goal {
  goal: string;
  met: boolean;
  detail: string;
}

export interface ParallelMeasurement {
  disks: number;
  concurrency: number;
  maxDisksInParallel: number;
  wallSeconds: number;
  sequentialWallSeconds: number;
}

/** Slowest stage alone / ours' wall: 1.0 when the pipeline goes as fast as its slowest stage. */
export function pipelineVsLimit(c: CaseMeasurement): number | undefined {
  return c.stages && slowestStage(c.stages).seconds / c.ours.wallSeconds;
}

/** One line: each stage alone, the slowest, and the pipeline against it. */
export function stagesLine(c: CaseMeasurement): string {
  if (!c.stages) return `${caseName(c)}: stages not measured`;
  const s = slowestStage(c.stages);
  const each = (Object.entries(c.stages) as [keyof StageSeconds, number][])
    .map(([k, v]) => `${STAGE_LABELS[k]} ${v.toFixed(2)} s`)
    .join(', ');
  return `${caseName(c)}: each stage alone: ${each}; bound by ${STAGE_LABELS[s.stage]}; ours ${c.ours.wallSeconds.toFixed(2)} s = ${pipelineVsLimit(c)!.toFixed(2)}x of that stage's speed`;
}

/** 20 concurrent imports against one (issue 24: at most 3x). */
export function controlPlaneGoals(cp: ControlPlane): Goal[] {
  const { oneImportSeconds: one, twentyImportsSeconds: twenty } = cp;
  return [
    {
      goal: '20 concurrent imports <= 3 x one import',
      met: one !== null && twenty !== null && twenty <= 3 * one,
      detail:
        one !== null && twenty !== null
          ? `one ${one.toFixed(1)} s, twenty ${twenty.toFixed(1)} s (${(twenty / one).toFixed(1)}x)`
          : 'not measured',
    },
  ];
}

export function evaluateGoals(cases: CaseMeasurement[], parallel: ParallelMeasurement | undefined): Goal[] {
  const goals: Goal[] = [];
  const worst = <T>(items: T[], score: (t: T) => number) =>
    items.reduce((a, b) => (score(b) > score(a) ? b : a), items[0]!);
  if (cases.length) {
    const scratch = (c: CaseMeasurement) => c.ours.peakScratchBytes / Math.max(1, c.allocatedBytes);
    const ws = worst(cases, scratch);
    goals.push({
      goal: 'peak scratch <= 1.1 x allocated data',
      met: cases.every((c) => c.ours.peakScratchBytes <= 1.1 * c.allocatedBytes),
      detail: `worst ${caseName(ws)}: ${mib(ws.ours.peakScratchBytes)} for ${mib(ws.allocatedBytes)} allocated (${scratch(ws).toFixed(3)}x)`,
    });
    const served = (c: CaseMeasurement) =>
      c.ours.bytesServed / (1.1 * c.allocatedBytes + c.formatOverheadBytes);
    const wv = worst(cases, served);
    goals.push({
      goal: 'bytes served <= 1.1 x allocated + format overhead',
      met: cases.every((c) => served(c) <= 1),
      detail: `worst ${caseName(wv)}: ${mib(wv.ours.bytesServed)} served for ${mib(wv.allocatedBytes)} allocated + ${mib(wv.formatOverheadBytes)} qcow2 metadata (${served(wv).toFixed(3)} of the limit)`,
    });
    const wr = worst(cases, (c) => c.ours.peakRssBytes);
    goals.push({
      goal: 'exporter RSS <= 160 MiB whatever the size',
      met: cases.every((c) => c.ours.peakRssBytes <= 160 * MiB),
      detail: `largest ${caseName(wr)}: ${mib(wr.ours.peakRssBytes)}`,
    });
  }
  if (cases.length) {
    const ratio = (c: CaseMeasurement) => c.ours.wallSeconds / c.upstream.wallSeconds;
    const wu = cases.reduce((a, b) => (ratio(b) > ratio(a) ? b : a));
    goals.push({
      goal: 'no case slower than upstream (ours/upstream wall <= 1.0)',
      met: cases.every((c) => ratio(c) <= 1),
      detail: `worst ${caseName(wu)}: ${ratio(wu).toFixed(2)}x`,
    });
  }
  const staged = cases.filter((c) => c.stages);
  goals.push({
    goal: 'pipeline >= 0.7 x the speed of its slowest stage alone',
    met: staged.length > 0 && staged.every((c) => pipelineVsLimit(c)! >= 0.7),
    detail: staged.length
      ? staged
          .map((c) => {
            const s = slowestStage(c.stages!);
            return `${caseName(c)}: slowest ${STAGE_LABELS[s.stage]} ${s.seconds.toFixed(2)} s, ours ${c.ours.wallSeconds.toFixed(2)} s (${pipelineVsLimit(c)!.toFixed(2)}x)`;
          })
          .join('; ')
      : 'no stage measured',
  });
  if (parallel) {
    goals.push({
      goal: 'disks of one VM exported in parallel (EXPORT_DISK_CONCURRENCY)',
      met:
        parallel.maxDisksInParallel >= Math.min(parallel.disks, parallel.concurrency) &&
        parallel.concurrency > 1,
      detail: `${parallel.disks} disks, EXPORT_DISK_CONCURRENCY=${parallel.concurrency}: up to ${parallel.maxDisksInParallel} moving at once, export ${parallel.wallSeconds.toFixed(2)} s vs ${parallel.sequentialWallSeconds.toFixed(2)} s with concurrency 1`,
    });
  } else {
    goals.push({ goal: 'disks of one VM exported in parallel', met: false, detail: 'not measured' });
  }
  const big = cases.filter(
    (c) => c.sizeBytes === 4 * GiB && Math.round((100 * c.allocatedBytes) / c.sizeBytes) === 50,
  );
  goals.push({
    goal: 'end-to-end wall for 4 GiB/50% <= 0.6 x upstream',
    met: big.length > 0 && big.every((c) => c.ours.wallSeconds <= 0.6 * c.upstream.wallSeconds),
    detail: big.length
      ? big
          .map(
            (c) =>
              `${c.source}: ${c.ours.wallSeconds.toFixed(2)} s vs ${c.upstream.wallSeconds.toFixed(2)} s (${(c.ours.wallSeconds / c.upstream.wallSeconds).toFixed(2)}x)`,
          )
          .join('; ')
      : 'no 4 GiB/50% case measured',
  });
  return goals;
}

/** The conditions an import's steps set True, in pipeline order (functions/shared/api ImportConditionType). */
export const IMPORT_STEPS = [
  'VirtualMachineImportValid',
  'SourceReady',
  'DisksExported',
  'DiskImagesSubmitted',
  'DiskImagesReady',
  'VirtualMachineCreated',
  'VirtualMachineRunning',
] as const;

interface StepCondition {
  type: string;
  status: string;
  lastTransitionTime?: string | null;
}

/**
 * Where an import's time goes: for each step, the seconds from the previous step's condition (the
 * apply, for the first) turning True to its own, as p50 and max over the imports. Condition times
 * have a resolution of one second.
 */
export function stepSeconds(
  imports: (readonly StepCondition[] | null | undefined)[],
  appliedAtMs: number,
): { step: string; p50: number; max: number }[] {
  const perStep = IMPORT_STEPS.map(() => [] as number[]);
  for (const conditions of imports) {
    let previous = appliedAtMs;
    IMPORT_STEPS.forEach((step, i) => {
      const c = conditions?.find((x) => x.type === step && x.status === 'True');
      const at = c?.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
      if (Number.isNaN(at)) return;
      perStep[i]!.push(Math.max(0, (at - previous) / 1000));
      previous = at;
    });
  }
  return IMPORT_STEPS.map((step, i) => ({
    step,
    p50: percentile(perStep[i]!, 50) ?? NaN,
    max: perStep[i]!.length ? Math.max(...perStep[i]!) : NaN,
  }));
}

export function stepSecondsLine(steps: { step: string; p50: number; max: number }[]): string {
  return steps.map((s) => `${s.step} ${s.p50.toFixed(0)}/${s.max.toFixed(0)}`).join(', ');
}
