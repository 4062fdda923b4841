// A chaos run: one local cluster whose sources hold one multi-disk VM per row, the link to the
// sources shaped so that a transfer lasts long enough to hit its middle, then every row in turn.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startLocalCluster, type LocalCluster } from '../../local-cluster/cluster.ts';
import { applyExampleSources } from '../support/e2e.ts';
import { FAULT_KINDS, type ChaosContext, type Fault, type FaultKind } from './fault.ts';
import { ALL_FAULTS } from './faults/index.ts';
import { chaosInventory, chaosTarget } from './inventory.ts';
import { runRow, type RowResult } from './scenario.ts';
import { sourceLink } from './source-link.ts';

/**
 * What each source sends to the pods (MiB/s), so that a chaos VM's transfer lasts ~10 s: VMware and
 * OVA send the allocated data (~80 MiB); an OpenStack volume is whole GiB (Cinder), and its Glance
 * image, all of it, is what crosses the link (~2 GiB).
 */
const SOURCE_LINK_MIBPS = { vmware: 8, ova: 8, openstack: 160 };

export interface ChaosOptions {
  /** Only rows of these kinds (default: all). */
  kinds?: FaultKind[];
  /** Only the first row of each kind (what `npm test` runs). */
  subset?: boolean;
  /** Keep the cluster's state directory (logs) after the run. */
  keepState?: boolean;
  log(message: string): void;
}

export function selectFaults(faults: Fault[], o: Pick<ChaosOptions, 'kinds' | 'subset'>): Fault[] {
  let chosen = o.kinds ? faults.filter((f) => o.kinds!.includes(f.kind)) : faults;
  if (o.subset)
    chosen = FAULT_KINDS.map((k) => chosen.find((f) => f.kind === k)).filter((f): f is Fault => !!f);
  return chosen;
}

export async function runChaos(o: ChaosOptions): Promise<{ rows: RowResult[]; stateDir: string }> {
  const faults = selectFaults(ALL_FAULTS, o);
  const rows = faults.map((fault, i) => ({ fault, target: chaosTarget(i + 1, fault.source) }));
  const stateDir = await mkdtemp(join(tmpdir(), 'vm-import-chaos-'));
  const inventoryFile = join(stateDir, 'inventory.yaml');
  const inventory = chaosInventory(rows.map((r) => r.target));
  // The example sources name appliance.ova: a small one, so that they all become ready.
  inventory.ova!.push({
    name: 'appliance.ova',
    diskFormat: 'streamOptimized',
    vm: {
      cpus: 1,
      coresPerSocket: 1,
      memoryMiB: 128,
      firmware: 'bios',
      secureBoot: false,
      tpm: false,
      disks: [{ sizeMiB: 1, allocatedPercent: 100, seed: 1, controller: 'sata' }],
      nics: [],
    },
  });
  await writeFile(inventoryFile, stringify(inventory));
  let cluster: LocalCluster | undefined;
  const results: RowResult[] = [];
  try {
    o.log(`starting the local cluster in ${stateDir} for ${rows.length} row(s)`);
    cluster = await startLocalCluster({ stateDir, inventoryFile, imageRetryDelayMs: 3000 });
    await applyExampleSources(cluster, 120);
    const link = sourceLink(cluster);
    await link.shape(SOURCE_LINK_MIBPS);
    const ctx: ChaosContext = { cluster, sourceLink: link, log: o.log };
    // Interrupted (Ctrl-C, a CI timeout): stop the cluster, which removes its network and mounts.
    const interrupted = () => void cluster!.stop().finally(() => process.exit(130));
    for (const s of ['SIGINT', 'SIGTERM'] as const) process.once(s, interrupted);
    for (const { fault, target } of rows) {
      o.log(`row ${target.name}: ${fault.name} at ${JSON.stringify(fault.moment)}`);
      const row = await runRow(ctx, fault, target);
      o.log(`row ${target.name}: ${row.problems.length ? `FAILED: ${row.problems.join('; ')}` : 'passed'}`);
      results.push(row);
      await link.clear();
      await link.shape(SOURCE_LINK_MIBPS);
    }
    await link.clear();
  } finally {
    await cluster?.stop();
    if (!o.keepState) await rm(stateDir, { recursive: true, force: true });
  }
  return { rows: results, stateDir };
}
