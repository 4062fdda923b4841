import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  caseName,
  evaluateGoals,
  functionGoals,
  maxOverlap,
  percentile,
  resultsJson,
  type CaseMeasurement,
  type WayMeasurement,
} from '../../lib/report.ts';
import { ddMBps } from '../../lib/machine.ts';
import { maxRssFromTimeOutput } from '../../lib/upstream-vmware.ts';

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
  assert.deepEqual(Object.keys(out.controlPlane), [
    'transitionP50Ms',
    'transitionP99Ms',
    'oneImportSeconds',
    'twentyImportsSeconds',
  ]);
});

test('goals: all met', () => {
  const goals = evaluateGoals([case4g50({ wallSeconds: 5 }, { wallSeconds: 10 })], {
    disks: 2,
    concurrency: 2,
    maxDisksInParallel: 2,
    wallSeconds: 1,
    sequentialWallSeconds: 2,
  });
  assert.deepEqual(
    goals.map((g) => g.met),
    [true, true, true, true, true],
  );
});

test('goals: each one can be missed', () => {
  const goals = evaluateGoals(
    [
      case4g50(
        { wallSeconds: 7, peakScratchBytes: 2.3 * GiB, bytesServed: 2.3 * GiB, peakRssBytes: 300 * MiB },
        { wallSeconds: 10 },
      ),
    ],
    { disks: 2, concurrency: 2, maxDisksInParallel: 1, wallSeconds: 2, sequentialWallSeconds: 2 },
  );
  assert.deepEqual(
    goals.map((g) => g.met),
    [false, false, false, false, false],
  );
  assert.match(goals[4]!.detail, /7\.00 s vs 10\.00 s \(0\.70x\)/);
});

test('goals: bytes served may exceed 1.1 x allocated by the qcow2 metadata', () => {
  const c = case4g50({ bytesServed: 1.1 * 2 * GiB + 1 * MiB });
  assert.equal(evaluateGoals([c], undefined)[1]!.met, true);
  assert.equal(evaluateGoals([{ ...c, formatOverheadBytes: 0 }], undefined)[1]!.met, false);
  assert.equal(evaluateGoals([c], undefined)[3]!.met, false); // parallel not measured
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
