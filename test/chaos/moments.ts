// When a fault is injected: each Moment decided from one observation of the import (its status, its
// images, its VM). Pure apart from `observe`.
import {
  API_VERSION,
  ImportStatus,
  isTerminalImport,
  type VirtualMachineImportStatus,
} from '../../functions/shared/api/index.ts';
import type { LocalCluster } from '../../local-cluster/cluster.ts';
import type { ChaosTarget, Moment } from './fault.ts';

export interface ImportObservation {
  /** When it was observed (ms since the epoch). */
  observedAt: number;
  /** Absent: the import does not exist (deleted). */
  status?: VirtualMachineImportStatus;
  /** The import's VirtualMachineImages: name and Harvester's download progress (0–100). */
  images: { name: string; progress: number }[];
  vmExists: boolean;
}

/** The share of the disks' export done, 0–1, from the export Job's per-disk progress. */
export function transferFraction(status: VirtualMachineImportStatus | undefined): number {
  const disks = status?.diskImportStatus ?? [];
  let done = 0;
  let total = 0;
  for (const d of disks) {
    const p = d.progress;
    const size = p?.bytesTotal ?? d.diskSize ?? 0;
    total += size;
    if (!p || p.phase === 'pending') continue;
    done += ['exporting', 'converting', 'verifying'].includes(p.phase)
      ? Math.min(p.bytesDone ?? 0, size)
      : size;
  }
  return total ? done / total : 0;
}

const exporting = (s: VirtualMachineImportStatus | undefined) =>
  (s?.importStatus === ImportStatus.SourceReady || s?.importStatus === ImportStatus.Valid) &&
  !!s.diskImportStatus?.length &&
  !s.diskImportStatus.every((d) => d.progress?.phase === 'exported');

export function momentReached(moment: Moment, o: ImportObservation): boolean {
  const s = o.status;
  if (typeof moment === 'object') return (s?.importStatus ?? '') === moment.phase;
  const f = transferFraction(s);
  switch (moment) {
    case 'before-transfer':
      return exporting(s) && f === 0;
    case 'mid-transfer':
      return exporting(s) && f >= 0.1 && f <= 0.9;
    case 'near-end':
      return exporting(s) && f > 0.9;
    case 'image-download':
      return (
        s?.importStatus === ImportStatus.DiskImagesSubmitted &&
        o.images.length > 0 &&
        o.images.some((i) => i.progress > 0 && i.progress < 100)
      );
    case 'vm-creation':
      return (
        s?.importStatus === ImportStatus.DiskImagesReady ||
        (s?.importStatus === ImportStatus.VirtualMachineCreated && !o.vmExists)
      );
  }
}

/** Where the import is, for a proof or a "moment never reached" message. */
export function describeObservation(o: ImportObservation): string {
  if (!o.status) return 'import gone';
  const pct = Math.round(transferFraction(o.status) * 100);
  const images = o.images.map((i) => `${i.name}=${i.progress}%`).join(' ');
  return `${o.status.importStatus || 'new'}, export ${pct} %${images ? `, images ${images}` : ''}${o.vmExists ? ', VM exists' : ''}`;
}

export async function observe(cluster: LocalCluster, t: ChaosTarget): Promise<ImportObservation> {
  const vmi = await cluster.kube.find(API_VERSION, 'VirtualMachineImport', t.namespace, t.name);
  const status = vmi ? ((vmi.status ?? {}) as VirtualMachineImportStatus) : undefined;
  const names = (status?.diskImportStatus ?? [])
    .map((d) => d.VirtualMachineImage)
    .filter((n): n is string => !!n);
  const images = await Promise.all(
    names.map(async (name) => {
      const img = await cluster.kube.find(
        'harvesterhci.io/v1beta1',
        'VirtualMachineImage',
        t.namespace,
        name,
      );
      return { name, progress: Number((img?.status as { progress?: number } | undefined)?.progress ?? 0) };
    }),
  );
  const vmName = status?.importedVirtualMachineName;
  const vm = vmName
    ? await cluster.kube.find('kubevirt.io/v1', 'VirtualMachine', t.namespace, vmName)
    : undefined;
  return { observedAt: Date.now(), ...(status ? { status } : {}), images, vmExists: !!vm };
}

/** Polls until `moment` (resolves with the observation) or the import ends first (rejects). */
export async function waitForMoment(
  cluster: LocalCluster,
  t: ChaosTarget,
  moment: Moment,
  timeoutMs: number,
): Promise<ImportObservation> {
  const deadline = Date.now() + timeoutMs;
  let last: ImportObservation | undefined;
  for (;;) {
    last = await observe(cluster, t).catch(() => last);
    if (last && momentReached(moment, last)) return last;
    if (last?.status && isTerminalImport(last.status))
      throw new Error(`the import ended before the moment: ${describeObservation(last)}`);
    if (Date.now() > deadline)
      throw new Error(
        `moment not reached in ${timeoutMs / 1000} s: ${last ? describeObservation(last) : 'no status'}`,
      );
    await new Promise((r) => setTimeout(r, 150));
  }
}
