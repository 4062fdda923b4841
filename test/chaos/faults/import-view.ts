// What the data-path faults read of an import to aim and to prove: its disks' transfer progress,
// its export Job's running pod, its disk server's pod, its scratch volume on the host.
import { join } from 'node:path';
import { API_VERSION, type VirtualMachineImportStatus } from '../../../functions/shared/api/index.ts';
import { importObjectNames } from '../../../functions/shared/import-objects.ts';
import type { Obj } from '../../../functions/shared/kube/client.ts';
import type { LocalCluster } from '../../../local-cluster/cluster.ts';
import type { ChaosTarget } from '../fault.ts';

export async function importStatus(
  cluster: LocalCluster,
  target: ChaosTarget,
): Promise<VirtualMachineImportStatus> {
  const o = await cluster.kube.get<Obj>(API_VERSION, 'VirtualMachineImport', target.namespace, target.name);
  return (o.status ?? {}) as VirtualMachineImportStatus;
}

export interface Transfer {
  bytesDone: number;
  bytesTotal: number;
  /** Whole percent of the disks' bytes done (0 when nothing is known yet). */
  percent: number;
}

/** The disks' bytes done, as the export Job last reported them. */
export function transferOf(status: VirtualMachineImportStatus): Transfer {
  let bytesDone = 0;
  let bytesTotal = 0;
  for (const d of status.diskImportStatus ?? []) {
    bytesDone += d.progress?.bytesDone ?? 0;
    bytesTotal += d.progress?.bytesTotal ?? 0;
  }
  return { bytesDone, bytesTotal, percent: bytesTotal ? Math.floor((bytesDone / bytesTotal) * 100) : 0 };
}

export const describeTransfer = (t: Transfer) =>
  `${t.percent} % of the disks' bytes (${(t.bytesDone / 2 ** 20).toFixed(1)} of ${(t.bytesTotal / 2 ** 20).toFixed(1)} MiB)`;

/** Whether the transfer is where a mid-transfer fault must hit: between 10 % and 90 %. */
export const isMidTransfer = (t: Transfer) => t.bytesTotal > 0 && t.percent >= 10 && t.percent <= 90;

/** The running pod of a workload of the import, by label selector. */
async function runningPod(cluster: LocalCluster, namespace: string, selector: string): Promise<string> {
  const pods = await cluster.kube.list<Obj & { status?: { phase?: string } }>(
    'v1',
    'Pod',
    namespace,
    selector,
  );
  const running = pods.filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp);
  const pod = running.at(-1)?.metadata?.name;
  if (!pod) throw new Error(`no running pod matches ${selector} in ${namespace}`);
  return pod;
}

/** The export Job's running pod (the Job controller labels its pods job-name=<job>). */
export const exportPod = (cluster: LocalCluster, target: ChaosTarget) =>
  runningPod(cluster, target.namespace, `job-name=${importObjectNames(target.name).exportJob}`);

/** The pods of the export Job, running or not (each retry is one). */
export async function exportPodCount(cluster: LocalCluster, target: ChaosTarget): Promise<number> {
  const pods = await cluster.kube.list<Obj>(
    'v1',
    'Pod',
    target.namespace,
    `job-name=${importObjectNames(target.name).exportJob}`,
  );
  return pods.length;
}

/** The disk server's running pod (its Deployment selects app=<its name>: disk-server/workload.ts). */
export const diskServerPod = (cluster: LocalCluster, target: ChaosTarget) =>
  runningPod(cluster, target.namespace, `app=${importObjectNames(target.name).diskServer}`);

/** Where the local cluster mounts the import's scratch volume on the host (a real ext4 file system). */
export const scratchMount = (cluster: LocalCluster, target: ChaosTarget) =>
  join(cluster.stateDir, 'volumes', target.namespace, importObjectNames(target.name).scratchClaim);
