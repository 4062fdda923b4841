import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  caseName,
  controlPlaneGoals,
  evaluateGoals,
  functionGoals,
  maxOverlap,
  percentile,
  resultsJson,
  stagesLine,
  stepSeconds,
  stepSecondsLine,
  type CaseMeasurement,
  type WayMeasurement,
} from '../../lib/report.ts';
import { ddMBps } from '../../lib/machine.ts';
import { maxRssFromTimeOutput } from '../../lib/upstream-vmware.ts';
import { slowestStage, type StageSeconds } from '../../lib/stage-limits.ts';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

const way = (o: Partial<WayMeasurement> = {}): WayMeasurement => ({
  wallSeconds: 10,
  sourceBytes: 2 * GiB,
  peakScratchBytes: 2 * GiB,
  bytesServed: 2 * GiB,
  peakRssBytes: 100 * MiB,
  ...o,
});

const case4g50 = (
  ours: Partial<WayMeasurement>,
  upstream: Partial<WayMeasurement> = {},
): CaseMeasurement => ({
  source: 'vmware',
  sizeBytes: 4 * GiB,
  allocatedBytes: 2 * GiB,
  formatOverheadBytes: 1 * MiB,
  ours: way(ours),
  upstream: way({ peakScratchBytes: 6 * GiB, bytesServed: 4 * GiB, ...upstream }),
});

test('maxOverlap counts spans running at the same instant; touching spans do not overlap', () => {
  assert.equal(maxOverlap([]), 0);
  assert.equal(
    maxOverlap([
      { start: 0, end: 10 },
      { start: 5, end: 15 },
      { start: 12, end: 20 },
    ]),
    2,
  );
  assert.equal(
    maxOverlap([
      { start: 0, end: 10 },
      { start: 10, end: 20 },
    ]),
    1,
  );
  assert.equal(
    maxOverlap([
      { start: 0, end: 30 },
      { start: 1, end: 29 },
      { start: 2, end: 28 },
    ]),
    3,
  );
});

test('percentile uses the nearest rank', () => {
  assert.equal(percentile([], 50), null);
  assert.equal(percentile([5, 1, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 100], 99), 100);
  assert.equal(percentile([1, 2, 3, 4], 50), 2);
});

test('caseName names source, size and allocation', () => {
  assert.equal(
    caseName({ source: 'openstack', sizeBytes: 4 * GiB, allocatedBytes: 0.05 * 4 * GiB }),
    'openstack 4G 5%',
  );
  assert.equal(
    caseName({ source: 'vmware', sizeBytes: 64 * MiB, allocatedBytes: 32 * MiB }),
    'vmware 64.0M 50%',
  );
});

test('resultsJson has exactly the shape the checks read', () => {
  const out = resultsJson(
    { readMBps: 1000.04, writeMBps: 900 },
    [case4g50({})],
    {
      transitionP50Ms: 3,
      transitionP99Ms: 9,
      oneImportSeconds: null,
      twentyImportsSeconds: null,
    },
    { coldStartMs: { p50: 412.345, max: 700 }, idleRssBytes: { max: 90 * MiB } },
  );
  assert.deepEqual(Object.keys(out), ['machine', 'cases', 'controlPlane', 'functions']);
  assert.deepEqual(out.functions, {
    coldStartMs: { p50: 412.3, max: 700 },
    idleRssBytes: { max: 90 * MiB },
  });
  assert.deepEqual(out.machine, { readMBps: 1000, writeMBps: 900 });
  assert.deepEqual(Object.keys(out.cases[0]!), ['source', 'sizeBytes', 'allocatedBytes', 'ours', 'upstream']);
  assert.deepEqual(Object.keys(out.cases[0]!.ours), [
    'wallSeconds',
    'peakScratchBytes',
    'bytesServed',
    'peakRssBytes',
  ]);
  const withStages = resultsJson(
    { readMBps: 1, writeMBps: 1 },
    [{ ...case4g50({}), stages: stages({ decode: 6.12345 }) }],
    { transitionP50Ms: null, transitionP99Ms: null, oneImportSeconds: null, twentyImportsSeconds: null },
    null,
  );
  assert.equal(withStages.cases[0]!.ours.limitSeconds, 6.123);
  assert.deepEqual(Object.keys(out.controlPlane), [
    'transitionP50Ms',
    'transitionP99Ms',
    'oneImportSeconds',
    'twentyImportsSeconds',
  ]);
});

const stages = (o: Partial<StageSeconds> = {}): StageSeconds => ({
  download: 3,
  decode: 4.5,
  write: 1,
  serveDownload: 1,
  ...o,
});

const goal = (goals: { goal: string; met: boolean; detail: string }[], text: string) =>
  goals.find((g) => g.goal.includes(text))!;

test('goals: all met', () => {
  const goals = evaluateGoals([{ ...case4g50({ wallSeconds: 5 }, { wallSeconds: 10 }), stages: stages() }], {
    disks: 2,
    concurrency: 2,
    maxDisksInParallel: 2,
    wallSeconds: 1,
    sequentialWallSeconds: 2,
  });
  assert.deepEqual(
    goals.map((g) => g.met),
    [true, true, true, true, true, true, true],
  );
});

test('goals: each one can be missed', () => {
  const goals = evaluateGoals(
    [
      {
        ...case4g50(
          { wallSeconds: 7, peakScratchBytes: 2.3 * GiB, bytesServed: 2.3 * GiB, peakRssBytes: 161 * MiB },
          { wallSeconds: 10 },
        ),
        stages: stages({ decode: 4.8 }),
      },
      { ...case4g50({ wallSeconds: 11 }, { wallSeconds: 10 }), sizeBytes: GiB, allocatedBytes: GiB / 2 },
    ],
    { disks: 2, concurrency: 2, maxDisksInParallel: 1, wallSeconds: 2, sequentialWallSeconds: 2 },
  );
  assert.deepEqual(
    goals.map((g) => g.met),
    [false, false, false, false, false, false, false],
  );
  assert.match(goal(goals, '4 GiB/50%').detail, /7\.00 s vs 10\.00 s \(0\.70x\)/);
  assert.match(goal(goals, 'slower than upstream').detail, /vmware 1G 50%: 1\.10x/);
  assert.match(
    goal(goals, 'slowest stage').detail,
    /slowest VMDK inflate \+ sparse write 4\.80 s, ours 7\.00 s \(0\.69x\)/,
  );
});

test('goals: bytes served may exceed 1.1 x allocated by the qcow2 metadata', () => {
  const c = case4g50({ bytesServed: 1.1 * 2 * GiB + 1 * MiB });
  assert.equal(evaluateGoals([c], undefined)[1]!.met, true);
  assert.equal(evaluateGoals([{ ...c, formatOverheadBytes: 0 }], undefined)[1]!.met, false);
  assert.equal(goal(evaluateGoals([c], undefined), 'in parallel').met, false);
  assert.equal(goal(evaluateGoals([c], undefined), 'slowest stage').detail, 'no stage measured');
});

test('ddMBps reads the byte count and seconds of dd', () => {
  const out =
    '1024+0 records in\n1024+0 records out\n1073741824 bytes (1.1 GB, 1.0 GiB) copied, 2.5 s, 429 MB/s\n';
  assert.equal(Math.round(ddMBps(out)), 429);
  assert.equal(Math.round(ddMBps('1048576 bytes (1,0 MB, 1,0 MiB) copied, 0,5 s, 2,1 MB/s')), 2);
  assert.throws(() => ddMBps('dd: failed to open'), /unexpected dd output/);
});

test('maxRssFromTimeOutput reads GNU time -v', () => {
  assert.equal(maxRssFromTimeOutput('\tMaximum resident set size (kbytes): 52312\n'), 52312);
  assert.throws(() => maxRssFromTimeOutput('nothing'), /Maximum resident set size/);
});

test('function goals: met, missed, not measured', () => {
  const met = functionGoals({ coldStartMs: { p50: 480, max: 900 }, idleRssBytes: { max: 99 * MiB } });
  assert.deepEqual(
    met.map((g) => g.met),
    [true, true],
  );
  const missed = functionGoals({ coldStartMs: { p50: 520, max: 900 }, idleRssBytes: { max: 101 * MiB } });
  assert.deepEqual(
    missed.map((g) => g.met),
    [false, false],
  );
  assert.deepEqual(
    functionGoals(null).map((g) => g.detail),
    ['not measured', 'not measured'],
  );
});

test('stage limits: the slowest stage bounds the pipeline', () => {
  assert.deepEqual(slowestStage(stages({ serveDownload: 9 })), { stage: 'serveDownload', seconds: 9 });
  assert.equal(
    stagesLine({ ...case4g50({ wallSeconds: 9 }), stages: stages() }),
    "vmware 4G 50%: each stage alone: TLS download 3.00 s, VMDK inflate + sparse write 4.50 s, sparse write 1.00 s, serve + download 1.00 s; bound by VMDK inflate + sparse write; ours 9.00 s = 0.50x of that stage's speed",
  );
  assert.match(stagesLine(case4g50({})), /stages not measured/);
});

test('control plane goal: 20 imports within 3 x one', () => {
  const cp = { transitionP50Ms: 1, transitionP99Ms: 2 };
  assert.equal(controlPlaneGoals({ ...cp, oneImportSeconds: 10, twentyImportsSeconds: 30 })[0]!.met, true);
  const missed = controlPlaneGoals({ ...cp, oneImportSeconds: 10, twentyImportsSeconds: 31 })[0]!;
  assert.equal(missed.met, false);
  assert.match(missed.detail, /\(3\.1x\)/);
  assert.equal(
    controlPlaneGoals({ ...cp, oneImportSeconds: null, twentyImportsSeconds: 31 })[0]!.detail,
    'not measured',
  );
});

test('stepSeconds: each step from the previous one turning True, p50 and max over the imports', () => {
  const t0 = Date.parse('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(t0 + s * 1000).toISOString();
  const imp = (valid: number, ready: number) => [
    { type: 'VirtualMachineImportValid', status: 'True', lastTransitionTime: at(valid) },
    { type: 'SourceReady', status: 'True', lastTransitionTime: at(ready) },
    { type: 'DisksExported', status: 'False', lastTransitionTime: at(ready + 1) },
  ];
  const steps = stepSeconds([imp(1, 3), imp(2, 10), imp(3, 4)], t0);
  assert.deepEqual(steps[0], { step: 'VirtualMachineImportValid', p50: 2, max: 3 });
  assert.deepEqual(steps[1], { step: 'SourceReady', p50: 2, max: 8 });
  assert.ok(Number.isNaN(steps[2]!.p50)); // never True
  assert.match(
    stepSecondsLine(steps),
    /^VirtualMachineImportValid 2\/3, SourceReady 2\/8, DisksExported NaN/,
  );
});
