// `npm run bench` (issue 9): our disk data path against a re-creation of upstream's, and the
// machine's own limit, in one process and one run. Prints numbers, asserts nothing except that
// every downloaded disk equals its source (a benchmark of wrong bytes is worthless).
//   node --import tsx bench/run.ts [--quick] [--only 'vmware 4G 50%']
//     --quick: 64/256 MiB disks instead of 1/4 GiB, 5 cold starts per function instead of 20;
//     --only: just the cases whose name contains the text (`--only functions`: just the functions'
//     cold start and memory), no parallel-disk or control-plane part, results in
//     bench/work/results-only.json.
// For each disk (1 GiB and 4 GiB at 5, 50 and 100 % allocated) and each source (vcsim NFC,
// OpenStack simulator Glance):
//   ours:     the real source client exports into a sparse raw file on scratch (one pass), the
//             disk server (functions/images/disk-server.ts) streams it from its extents as qcow2
//             (< 90 % allocated) or raw, whichever sends fewer bytes;
//   upstream: the whole VMDK / image downloaded to scratch, `qemu-img convert -f vmdk -O raw`
//             (VMware; OpenStack downloads raw), served by Go's http.FileServer as a full file;
// both fetched by the same image downloader (HTTP GET to a file, qemu-img convert when qcow2).
import { execa } from 'execa';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { runExporter, runWay, type WayRun } from './lib/data-path.ts';
import type { ExporterJob } from './lib/exporter-child.ts';
import { measureDiskBandwidth } from './lib/machine.ts';
import {
  caseName,
  controlPlaneGoals,
  evaluateGoals,
  functionGoals,
  mib,
  resultsJson,
  stagesLine,
  table,
  type CaseMeasurement,
  type ControlPlane,
  type FunctionsMeasurement,
  type ParallelMeasurement,
} from './lib/report.ts';
import { goTool } from './lib/go-tool.ts';
import { vmwareExportStages } from './lib/stage-limits.ts';
import { measureFunctions, summarizeFootprints } from './lib/functions-footprint.ts';
import { startDiskServer, startStaticFileServer } from './lib/servers.ts';
import {
  openstackConnection,
  openstackSourceRaw,
  prepareVcsimDisks,
  startBenchOpenstack,
  startBenchVcsim,
  vcsimSourceRaw,
  vmName,
  vmwareConnection,
  type BenchVm,
  type DiskSpec,
} from './lib/sources.ts';

const WORK = join(import.meta.dirname, 'work', 'run');
const CACHE = join(import.meta.dirname, 'work', 'sources');
const quick = process.argv.includes('--quick');
const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;
const sizesMiB = quick ? [64, 256] : [1024, 4096];
const percents = [5, 50, 100];
const POLL_MS = 50;
const log = (msg: string) => console.log(`[${((Date.now() - T0) / 1000).toFixed(0).padStart(4)} s] ${msg}`);
const T0 = Date.now();

/** EXPORT_DISK_CONCURRENCY: the environment, else the shipped setting (config/settings.yaml). */
function exportDiskConcurrency(): number {
  const fromEnv = Number(process.env.EXPORT_DISK_CONCURRENCY);
  if (fromEnv > 0) return Math.floor(fromEnv);
  const settings = parseYaml(
    readFileSync(join(import.meta.dirname, '..', 'config', 'settings.yaml'), 'utf8'),
  ) as {
    data?: Record<string, string>;
  };
  return Math.max(1, Number(settings.data?.EXPORT_DISK_CONCURRENCY ?? 1));
}

class OnlyDone extends Error {}

/**
 * bench/lib/control-plane.ts in its own process: the local cluster runs in that process, and
 * whatever goes wrong there (it can crash under load) leaves the data-path results intact and
 * becomes nulls with the reason printed.
 */
async function controlPlaneInChild(dir: string): Promise<{ result: ControlPlane; notes: string[] }> {
  const result: ControlPlane = {
    transitionP50Ms: null,
    transitionP99Ms: null,
    oneImportSeconds: null,
    twentyImportsSeconds: null,
  };
  const notes: string[] = [];
  // One process per part: a crash in the imports does not lose the latencies.
  for (const part of ['latency', 'imports'] as const) {
    const r = await execa(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, 'lib', 'control-plane.ts'), dir, part],
      { reject: false, all: true, timeout: 20 * 60_000, env: { LOG_LEVEL: 'warn' } },
    );
    const lines = (r.all ?? '').split('\n');
    const json = lines.findLast((l) => l.startsWith('{"transitionP50Ms"'));
    notes.push(...lines.filter((l) => l.startsWith('note: ')).map((l) => l.slice('note: '.length)));
    if (r.exitCode === 0 && json) {
      const got = JSON.parse(json) as ControlPlane;
      if (part === 'latency') {
        result.transitionP50Ms = got.transitionP50Ms;
        result.transitionP99Ms = got.transitionP99Ms;
      } else {
        result.oneImportSeconds = got.oneImportSeconds;
        result.twentyImportsSeconds = got.twentyImportsSeconds;
      }
    } else {
      notes.push(
        `${part} not measured: its process ended with ${r.exitCode ?? r.signal}${r.timedOut ? ' (timed out after 20 min)' : ''}: ${lines.slice(-12).join(' | ').slice(-1500)}`,
      );
    }
  }
  return { result, notes };
}

async function main(): Promise<void> {
  console.log((await execa('df', ['-h', import.meta.dirname])).stdout);
  await rm(WORK, { recursive: true, force: true });
  const scratchOurs = join(WORK, 'scratch-ours');
  const scratchUpstream = join(WORK, 'scratch-upstream');
  const harvester = join(WORK, 'harvester-images');
  for (const d of [scratchOurs, scratchUpstream]) await mkdir(d, { recursive: true });

  log('machine limit: dd on the scratch directory ...');
  const machine = await measureDiskBandwidth(WORK);
  log(
    `write ${machine.writeMBps.toFixed(0)} MB/s, read ${machine.readMBps.toFixed(0)} MB/s (${machine.note})`,
  );

  // First, while nothing else runs: every function's cold start and idle memory.
  let functions: FunctionsMeasurement | null = null;
  if (!only || only === 'functions') {
    const samples = quick ? 5 : 20;
    log(
      `functions: ${samples} cold starts each (plain node on the build, real API server), then idle RSS ...`,
    );
    functions = summarizeFootprints(await measureFunctions(samples, log));
    log(
      `functions: cold start p50 ${functions.coldStartMs.p50.toFixed(0)} ms, max ${functions.coldStartMs.max.toFixed(0)} ms; idle RSS max ${mib(functions.idleRssBytes.max)}`,
    );
  }
  if (only === 'functions') {
    await writeFile(
      join(import.meta.dirname, 'work/results-only.json'),
      `${JSON.stringify(resultsJson(machine, [], { transitionP50Ms: null, transitionP99Ms: null, oneImportSeconds: null, twentyImportsSeconds: null }, functions), null, 2)}\n`,
    );
    return;
  }

  const specs: DiskSpec[] = sizesMiB.flatMap((sizeMiB) =>
    percents.map((allocatedPercent) => ({ sizeMiB, allocatedPercent, seed: 9000 + allocatedPercent })),
  );
  const wanted = (source: string, d: DiskSpec) =>
    !only ||
    caseName({
      source,
      sizeBytes: d.sizeMiB * 1024 * 1024,
      allocatedBytes: Math.round((d.sizeMiB * d.allocatedPercent) / 100) * 1024 * 1024,
    }).includes(only);
  const single: BenchVm[] = specs.map((d) => ({ name: vmName(d), disks: [d] }));
  const concurrency = exportDiskConcurrency();
  const parallelVm: BenchVm = {
    name: 'bench-parallel',
    disks: [0, 1].map((i) => ({ sizeMiB: quick ? 64 : 512, allocatedPercent: 50, seed: 9100 + i })),
  };

  log('VMware sources: raw disks + streamOptimized VMDKs (cached by spec) ...');
  const fixtures = await prepareVcsimDisks([...single, parallelVm], join(CACHE, 'vcsim'));
  log(`VMware sources: ${fixtures.made} disks made in ${fixtures.seconds.toFixed(1)} s`);
  const vcsim = await startBenchVcsim([...single, parallelVm], join(CACHE, 'vcsim'));
  log('OpenStack simulator (Ceph-like clones): volumes from the disk cache, Glance checksums ...');
  const openstack = await startBenchOpenstack(
    single.filter((_, i) => wanted('openstack', specs[i]!)),
    join(WORK, 'openstack'),
    join(CACHE, 'vcsim'),
  );
  const diskServer = await startDiskServer(scratchOurs);
  const staticServer = await startStaticFileServer(scratchUpstream);
  await goTool('image-fetch'); // built before any measurement

  log('sources ready');
  const cases: CaseMeasurement[] = [];
  let parallel: ParallelMeasurement | undefined;
  try {
    const vconn = vmwareConnection(vcsim);
    const oconn = openstackConnection(openstack);
    for (const spec of specs) {
      for (const source of ['vmware', 'openstack'] as const) {
        if (!wanted(source, spec)) continue;
        const vm = vmName(spec);
        const sourceRaw = source === 'vmware' ? vcsimSourceRaw(vcsim, vm) : openstackSourceRaw(openstack, vm);
        const job = (way: 'ours' | 'upstream'): ExporterJob => {
          const scratchDir = way === 'ours' ? scratchOurs : scratchUpstream;
          return source === 'vmware'
            ? { way, source, conn: vconn, dc: vcsim.datacenter, vm, scratchDir, concurrency }
            : { way, source, conn: oconn, vm, scratchDir, concurrency, pollMs: POLL_MS };
        };
        const run = (way: 'ours' | 'upstream') =>
          runWay({
            job: job(way),
            server: way === 'ours' ? diskServer : staticServer,
            downloadDir: harvester,
            sourceRaw,
            workDir: WORK,
          });
        const ours: WayRun = await run('ours');
        const upstream: WayRun = await run('upstream');
        // Cinder sizes are whole GiB: the cloud's volume is the disk (zeros after the content).
        const sizeMiB = source === 'openstack' ? Math.ceil(spec.sizeMiB / 1024) * 1024 : spec.sizeMiB;
        const c: CaseMeasurement = {
          source,
          sizeBytes: sizeMiB * 1024 * 1024,
          allocatedBytes: Math.round((spec.sizeMiB * spec.allocatedPercent) / 100) * 1024 * 1024,
          formatOverheadBytes: ours.formatOverheadBytes,
          ours,
          upstream,
        };
        // Each stage alone, at the largest size only (the bench's time budget): issue 24 item 5.
        if (source === 'vmware' && spec.sizeMiB === Math.max(...sizesMiB)) {
          const disks = vcsim.disks.filter((d) => d.vm === vm).sort((a, b) => a.index - b.index);
          const exportStages = await vmwareExportStages({
            conn: vconn,
            dc: vcsim.datacenter,
            vm,
            vmdkPaths: disks.map((d) => d.vmdkPath),
            rawPaths: disks.map((d) => d.rawPath),
            scratchDir: scratchOurs,
          });
          c.stages = { ...exportStages, serveDownload: ours.downloadSeconds };
          log(stagesLine(c));
        }
        cases.push(c);
        const phases = (w: WayRun) =>
          `${w.wallSeconds.toFixed(2)} s (export ${w.exportSeconds.toFixed(2)}, exporter CPU ${w.exporter.cpuSeconds.toFixed(2)} s + serve/download ${w.downloadSeconds.toFixed(2)}${w.servedFormats.length ? ` as ${w.servedFormats.join(',')}` : ''})`;
        log(
          `${caseName(c)}: ours ${phases(ours)}, upstream ${phases(upstream)}; both downloads equal the source (checked in ${(ours.verifySeconds + upstream.verifySeconds).toFixed(1)} s)`,
        );
      }
    }

    if (only) throw new OnlyDone();
    log(`parallel disks: ${parallelVm.disks.length} disks of one VM, concurrency ${concurrency} vs 1 ...`);
    const exportOnly = async (c: number) => {
      await rm(scratchOurs, { recursive: true, force: true });
      await mkdir(scratchOurs, { recursive: true });
      const r = await runExporter(
        {
          way: 'ours',
          source: 'vmware',
          conn: vconn,
          dc: vcsim.datacenter,
          vm: parallelVm.name,
          scratchDir: scratchOurs,
          concurrency: c,
        },
        join(WORK, 'exporter-result-parallel.json'),
      );
      await rm(scratchOurs, { recursive: true, force: true });
      await mkdir(scratchOurs, { recursive: true });
      return r;
    };
    const par = await exportOnly(concurrency);
    const seq = await exportOnly(1);
    parallel = {
      disks: parallelVm.disks.length,
      concurrency,
      maxDisksInParallel: par.maxDisksInParallel,
      wallSeconds: (par.endedAt - par.startedAt) / 1000,
      sequentialWallSeconds: (seq.endedAt - seq.startedAt) / 1000,
    };
  } catch (err) {
    if (!(err instanceof OnlyDone)) throw err;
  } finally {
    await diskServer.stop();
    await staticServer.stop();
    await vcsim.stop();
    await openstack.stop();
    await rm(join(WORK, 'openstack'), { recursive: true, force: true });
  }

  if (only) {
    console.log(table(cases, machine));
    await writeFile(
      join(import.meta.dirname, 'work/results-only.json'),
      `${JSON.stringify(resultsJson(machine, cases, { transitionP50Ms: null, transitionP99Ms: null, oneImportSeconds: null, twentyImportsSeconds: null }, functions), null, 2)}\n`,
    );
    await rm(WORK, { recursive: true, force: true });
    return;
  }
  log('control plane ...');
  const controlPlane = await controlPlaneInChild(join(WORK, 'cluster'));
  for (const note of controlPlane.notes) console.log(`  ${note}`);

  console.log(
    `\nmachine limit (scratch dir): write ${machine.writeMBps.toFixed(0)} MB/s, read ${machine.readMBps.toFixed(0)} MB/s; ${machine.note}`,
  );
  console.log('sizes in MiB; ours/limit = allocated data moved per second of wall / dd write bandwidth\n');
  console.log(table(cases, machine));
  console.log('\ngoals:');
  for (const g of [
    ...evaluateGoals(cases, parallel),
    ...functionGoals(functions),
    ...controlPlaneGoals(controlPlane.result),
  ])
    console.log(`  [${g.met ? 'met' : 'NOT met'}] ${g.goal}: ${g.detail}`);
  console.log('\ncontrol plane:', JSON.stringify(controlPlane.result));
  const out = resultsJson(machine, cases, controlPlane.result, functions);
  await writeFile(
    join(import.meta.dirname, quick ? 'work/results-quick.json' : 'results.json'),
    `${JSON.stringify(out, null, 2)}\n`,
  );
  await rm(WORK, { recursive: true, force: true });
  log('done');
}

await main();
