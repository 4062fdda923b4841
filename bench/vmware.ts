// Benchmark of the VMware export (prints numbers, asserts nothing).
//   node --import tsx bench/vmware.ts [sizeMiB=2048] [allocatedPercent=25]
// One VM in vcsim-export with one disk of the local-stack contract. Both ways use the same NFC
// lease over real HTTPS:
//   (a) ours: exportVmwareVm streams the VMDK into decodeStreamOptimizedVmdk (one pass, sparse raw);
//   (b) upstream (§6.3): download the whole VMDK to scratch, then `qemu-img convert -f vmdk -O raw`.
// Measured: wall time, peak scratch bytes (allocated blocks in the scratch dir, sampled every
// 50 ms), peak RSS (each way runs in a child process; qemu-img measured with /usr/bin/time -v).
import axios from 'axios';
import { execa } from 'execa';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import {
  exportVmwareVm,
  closeVmwareSessions,
  type VmwareConnection,
} from '../functions/shared/sources/vmware/index.ts';
import { findVm, retrieveObjectProperties } from '../functions/shared/sources/vmware/inventory.ts';
import { vimCall, withVimSession } from '../functions/shared/sources/vmware/session.ts';
import { asArray, child, moRefArg, text, toMoRef } from '../functions/shared/sources/vmware/soap-values.ts';
import { resolveDeviceUrl } from '../functions/shared/sources/vmware/export.ts';
import { Inventory } from '../test/simulators/inventory.ts';
import { startVcsim } from '../test/simulators/vcsim/index.ts';

const MiB = 1024 * 1024;
const WORK = join(import.meta.dirname, 'work', 'vmware');
const VM = { name: 'bench-vm' };

async function scratchBytes(dir: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const st = await stat(join(dir, name)).catch(() => undefined);
    if (st) total += st.blocks * 512;
  }
  return total;
}

async function withScratchPeak<T>(dir: string, work: () => Promise<T>): Promise<{ result: T; peak: number }> {
  let peak = 0;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await scratchBytes(dir));
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  try {
    const result = await work();
    peak = Math.max(peak, await scratchBytes(dir));
    return { result, peak };
  } finally {
    sampling = false;
    await sampler;
  }
}

/** (a) in a child: our single-pass export. */
async function childOurs(conn: VmwareConnection, scratch: string): Promise<object> {
  await exportVmwareVm(conn, 'DC0', VM, { scratchDir: scratch });
  return { maxRssKiB: process.resourceUsage().maxRSS };
}

/** (b) in a child: upstream's way, download the VMDK then qemu-img convert. */
async function childUpstream(conn: VmwareConnection, scratch: string): Promise<object> {
  const vmdk = join(scratch, 'disk-0.vmdk');
  await withVimSession(conn, async (s) => {
    const lease = toMoRef(await vimCall(s, 'ExportVm', { _this: moRefArg(await findVm(s, 'DC0', VM)) }))!;
    let info: unknown;
    for (;;) {
      const props = await retrieveObjectProperties(s, lease, ['state', 'info']);
      if (text(props.get('state')) === 'ready') {
        info = props.get('info');
        break;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    const keepAlive = setInterval(() => {
      void vimCall(s, 'HttpNfcLeaseProgress', { _this: moRefArg(lease), percent: 50 }).catch(() => undefined);
    }, 2000);
    try {
      const url = text(child(asArray(child(info, 'deviceUrl'))[0], 'url'))!;
      const response = await axios.get(resolveDeviceUrl(url, conn.endpoint), {
        responseType: 'stream',
        httpsAgent: s.agent,
        headers: { Cookie: s.cookie },
      });
      await pipeline(response.data, createWriteStream(vmdk));
    } finally {
      clearInterval(keepAlive);
    }
    await vimCall(s, 'HttpNfcLeaseComplete', { _this: moRefArg(lease) });
  });
  const nodeRss = process.resourceUsage().maxRSS;
  const convert = await execa('/usr/bin/time', [
    '-v',
    'qemu-img',
    'convert',
    '-f',
    'vmdk',
    '-O',
    'raw',
    vmdk,
    join(scratch, 'disk-0.raw'),
  ]);
  const qemuRss = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(convert.stderr)?.[1] ?? 0);
  await rm(vmdk);
  return { maxRssKiB: Math.max(nodeRss, qemuRss), nodeRssKiB: nodeRss, qemuRssKiB: qemuRss };
}

async function runChild(way: 'ours' | 'upstream', conn: VmwareConnection, scratch: string) {
  await rm(scratch, { recursive: true, force: true });
  await mkdir(scratch, { recursive: true });
  const started = Date.now();
  const { result, peak } = await withScratchPeak(scratch, () =>
    execa(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--child', way, scratch], {
      env: { VCSIM_CONN: JSON.stringify(conn) },
    }),
  );
  const ms = Date.now() - started;
  const out = JSON.parse(result.stdout) as { maxRssKiB: number };
  return { ms, peakScratch: peak, rssBytes: out.maxRssKiB * 1024, detail: out };
}

async function main(): Promise<void> {
  if (process.argv[2] === '--child') {
    const conn = JSON.parse(process.env.VCSIM_CONN ?? '{}') as VmwareConnection;
    const scratch = process.argv[4]!;
    const out =
      process.argv[3] === 'ours' ? await childOurs(conn, scratch) : await childUpstream(conn, scratch);
    await closeVmwareSessions();
    process.stdout.write(JSON.stringify(out));
    return;
  }
  const sizeMiB = Number(process.argv[2] ?? 2048);
  const allocatedPercent = Number(process.argv[3] ?? 25);
  const inventory = Inventory.parse({
    vmware: {
      vms: [
        {
          name: VM.name,
          powerState: 'poweredOff',
          disks: [{ sizeMiB, allocatedPercent, seed: 42, controller: 'pvscsi' }],
        },
      ],
    },
  });
  console.log(`preparing a ${sizeMiB} MiB disk, ${allocatedPercent}% allocated (cached in ${WORK}) ...`);
  const vcsim = await startVcsim({ inventory, workDir: WORK });
  try {
    const vmdkBytes = (await stat(vcsim.disks[0]!.vmdkPath)).size;
    const conn: VmwareConnection = {
      endpoint: vcsim.url,
      username: vcsim.username,
      password: vcsim.password,
      caCertPem: vcsim.caCertPem,
      insecureSkipVerify: false,
    };
    const ours = await runChild('ours', conn, join(WORK, 'scratch-ours'));
    const upstream = await runChild('upstream', conn, join(WORK, 'scratch-upstream'));
    const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
    console.log(
      `disk ${sizeMiB} MiB, ${allocatedPercent}% allocated; streamOptimized VMDK ${mib(vmdkBytes)}`,
    );
    console.log('way                      wall      peak scratch   peak RSS');
    for (const [name, r] of [
      ['single-pass (ours)', ours],
      ['download+convert (upstream)', upstream],
    ] as const)
      console.log(
        `${name.padEnd(28)} ${(r.ms / 1000).toFixed(2).padStart(6)} s  ${mib(r.peakScratch).padStart(12)}  ${mib(r.rssBytes).padStart(10)}`,
      );
    console.log(`upstream details: ${JSON.stringify(upstream.detail)}`);
    console.log(
      `ratios upstream/ours: wall ${(upstream.ms / ours.ms).toFixed(2)}x, peak scratch ${(upstream.peakScratch / ours.peakScratch).toFixed(2)}x, peak RSS ${(upstream.rssBytes / ours.rssBytes).toFixed(2)}x`,
    );
  } finally {
    await vcsim.stop();
    await rm(join(WORK, 'scratch-ours'), { recursive: true, force: true });
    await rm(join(WORK, 'scratch-upstream'), { recursive: true, force: true });
  }
}

await main();
