// The export Job's work for one import: power the source VM off, export every disk into the
// scratch volume as a sparse raw `disk-<i>.img`, verify the images, publish the VM description
// for the vm function, and report it all in the import's status (never importStatus itself).
import { execa } from 'execa';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  API_VERSION,
  ImportConditionType,
  ImportStatus,
  SOURCE_KINDS,
  VirtualMachineImport,
  sourceKindOf,
  type VirtualMachineImportStatus,
} from '../../shared/api/index.ts';
import { isTrue, setCondition, type ConditionInput } from '../../shared/condition-list.ts';
import { isNotFound, type Kube, type Obj } from '../../shared/kube/client.ts';
import type { Logger } from '../../shared/log.ts';
import { overallProgress } from '../../shared/progress.ts';
import { numberSetting } from '../../shared/settings.ts';
import { withGuestDevices } from '../../shared/kubevirt/guest-devices.ts';
import { SourceError } from '../../shared/sources/source-error.ts';
import type { DiskBus, ExportedDisk, ExportOptions, SourceVm } from '../../shared/sources/types.ts';
import { importNameLabel, importObjectNames, ownedByImport } from '../../shared/import-objects.ts';
import type { SourceTarget } from '../../shared/sources/adapter.ts';
import { adapterFor } from '../../shared/sources/adapters.ts';
import { powerConditionsOf } from '../../shared/sources/power-conditions.ts';
import { isScratchFull, scratchFullError } from '../../shared/sources/scratch-full.ts';
import { formatBytes } from '../../shared/sources/scratch-size.ts';
import { readCredentialsDir } from './credentials.ts';
import { applyProgress, diskFileName, diskImportStatusOf, type DiskState } from './disk-status.ts';
import { ImportGoneError, ImportStatusWriter } from './status-writer.ts';
import { throttle } from './throttle.ts';

export interface ExporterConfig {
  namespace: string;
  name: string;
  uid: string;
  scratchDir: string;
  credentialsDir: string;
  concurrency: number;
  progressIntervalMs: number;
  /** Where source adapters read their own settings. */
  env: Readonly<Record<string, string | undefined>>;
}

export function exporterConfigFromEnv(env: Readonly<Record<string, string | undefined>>): ExporterConfig {
  const required = (key: string) => {
    const v = env[key]?.trim();
    if (!v) throw new Error(`environment variable ${key} is not set`);
    return v;
  };
  return {
    namespace: required('IMPORT_NAMESPACE'),
    name: required('IMPORT_NAME'),
    uid: env.IMPORT_UID?.trim() ?? '',
    scratchDir: required('SCRATCH_DIR'),
    credentialsDir: env.CREDENTIALS_DIR?.trim() || '/credentials',
    concurrency: Math.max(1, Math.floor(numberSetting('EXPORT_DISK_CONCURRENCY', env, 1))),
    progressIntervalMs: numberSetting('PROGRESS_INTERVAL_MS', env),
    env,
  };
}

/** exported / failed (recorded; do not retry) / nothing to do (already done, or the import is gone). */
export type ExportOutcome = 'exported' | 'failed' | 'skipped';

export async function runExporter(
  kube: Kube,
  config: ExporterConfig,
  log: Logger,
  signal: AbortSignal,
): Promise<ExportOutcome> {
  const writer = new ImportStatusWriter(kube, config.namespace, config.name, config.uid);
  let raw: Obj;
  try {
    raw = await writer.read();
  } catch (e) {
    if (e instanceof ImportGoneError) {
      log.info('nothing to do', { why: e.message });
      return 'skipped';
    }
    throw e;
  }
  const vmImport = VirtualMachineImport.parse(raw);
  const status = vmImport.status ?? {};
  if (status.importStatus !== ImportStatus.SourceReady) {
    log.info('nothing to do', { why: `import is ${status.importStatus || 'new'}, not sourceReady` });
    return 'skipped';
  }
  if (
    isTrue(status.importConditions, ImportConditionType.Exported) ||
    isTrue(status.importConditions, ImportConditionType.ExportFailed)
  ) {
    log.info('nothing to do', { why: 'the export result is already recorded' });
    return 'skipped';
  }

  const record = async (
    condition: ConditionInput,
    extra?: (s: VirtualMachineImportStatus) => VirtualMachineImportStatus,
  ) => {
    await writer.update((s) => {
      const next = extra ? extra(s) : s;
      return { ...next, importConditions: setCondition(next.importConditions, condition, new Date()) };
    });
    const fields = { condition: condition.type, reason: condition.reason, message: condition.message };
    if (
      condition.type === ImportConditionType.ExportFailed ||
      condition.type === ImportConditionType.ExportAttemptFailed
    )
      log.warn('recorded', fields);
    else log.info('recorded', fields);
  };

  const defaultBus: DiskBus = (vmImport.spec.defaultDiskBusType || 'virtio') as DiskBus;
  const disks = new Map<number, DiskState>();
  /** The status with the disks' export state (and the progress that follows from it) written in. */
  const withDisks = (s: VirtualMachineImportStatus): VirtualMachineImportStatus => {
    const next = {
      ...s,
      diskImportStatus: diskImportStatusOf(s.diskImportStatus, disks.values(), config.scratchDir, defaultBus),
    };
    return { ...next, progress: overallProgress(next) };
  };
  const writeDisks = async () => {
    await writer.update(withDisks);
  };
  const progress = throttle(writeDisks, config.progressIntervalMs, (e) =>
    log.warn('could not write progress', { error: e }),
  );
  const started = Date.now();

  try {
    const target = await sourceTarget(kube, vmImport, config);
    const adapter = await adapterFor(target.kind);
    await adapter.powerOff(target, {
      conditions: powerConditionsOf(status.importConditions),
      record: (c) => record(c),
      log,
      signal,
      env: config.env,
    });

    await removeEarlierImages(config.scratchDir);
    // Disk buses and NIC models the guest has drivers for (kubevirt/guest-devices.ts), recorded
    // with the guest OS in the status before the disks are, so busType is final from the start.
    const chooseDevices = async (described: SourceVm): Promise<SourceVm> => {
      const chosen = withGuestDevices(described, vmImport.spec);
      const guest = described.guestOs;
      await record(
        {
          type: ImportConditionType.GuestOperatingSystem,
          status: 'True',
          reason: chosen.choice.virtioDrivers ? 'VirtioDrivers' : 'NoVirtioDrivers',
          message: chosen.message,
        },
        (s) => ({
          ...s,
          guestOS: {
            family: guest?.family ?? 'unknown',
            ...(guest?.id ? { id: guest.id } : {}),
            ...(guest?.name ? { name: guest.name } : {}),
            ...(guest?.detectedFrom ? { detectedFrom: guest.detectedFrom } : {}),
            virtioDrivers: chosen.choice.virtioDrivers,
          },
        }),
      );
      return chosen.vm;
    };

    const described = await adapter.describe(target);
    let vm = described && (await chooseDevices(described));
    for (const d of vm?.disks ?? [])
      disks.set(d.index, {
        index: d.index,
        sizeBytes: d.sizeBytes,
        ...(d.bus ? { bus: d.bus } : {}),
        phase: 'pending',
        bytesDone: 0,
        bytesTotal: d.sizeBytes,
      });
    if (vm) await publishSourceVm(kube, vmImport, vm);
    await writeDisks();

    const opts: ExportOptions = {
      scratchDir: config.scratchDir,
      concurrency: config.concurrency,
      signal,
      onProgress: (p) => {
        applyProgress(disks, p);
        progress.signal();
      },
    };
    log.info('export started', { source: target.kind, disks: disks.size || undefined });
    const result = await adapter.exportDisks(target, opts, log);
    for (const w of result.warnings) log.warn('source warning', { warning: w });
    const exported = result.disks;
    if (result.vm) {
      vm = await chooseDevices(result.vm);
      await publishSourceVm(kube, vmImport, vm);
    }
    // Progress may have named disks the export did not produce (an OVA's .vmdk members decoded
    // before its OVF said they are unused): only exported disks get a status entry and an image.
    for (const index of [...disks.keys()]) if (!exported.some((d) => d.index === index)) disks.delete(index);
    await progress.flush();

    for (const d of exported) {
      const path = join(config.scratchDir, diskFileName(d.index));
      if (d.path !== path) await rename(d.path, path);
      await verifyImage(path, d, vm?.disks.find((x) => x.index === d.index)?.sizeBytes);
      disks.set(d.index, {
        index: d.index,
        sizeBytes: d.sizeBytes,
        bus:
          vm?.disks.find((x) => x.index === d.index)?.bus ?? d.bus ?? disks.get(d.index)?.bus ?? defaultBus,
        phase: 'exported',
        bytesDone: d.allocatedBytes,
        bytesTotal: d.allocatedBytes,
      });
    }
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    const virtual = exported.reduce((n, d) => n + d.sizeBytes, 0);
    const data = exported.reduce((n, d) => n + d.allocatedBytes, 0);
    const message = `exported ${exported.length} disk(s) of VM ${vm?.name ?? vmImport.spec.virtualMachineName ?? ''}: ${formatBytes(virtual)} virtual, ${formatBytes(data)} data, in ${seconds} s`;
    await record(
      { type: ImportConditionType.Exported, status: 'True', reason: 'DisksExported', message },
      withDisks,
    );
    return 'exported';
  } catch (e) {
    await progress.flush().catch(() => undefined);
    if (signal.aborted) throw e;
    if (e instanceof ImportGoneError) {
      log.info('import gone; stopping', { why: e.message });
      return 'skipped';
    }
    // A full scratch volume stays full on the Job's next try: terminal, whatever wrapped it.
    const err = isScratchFull(e) ? scratchFullError(e) : e;
    const retryable = !(err instanceof SourceError) || err.retryable;
    const reason = err instanceof SourceError ? err.reason : 'ExportError';
    const message = err instanceof Error ? err.message : String(err);
    try {
      if (!retryable) {
        for (const d of disks.values()) if (d.phase !== 'exported') d.phase = 'failed';
        await record(
          {
            type: ImportConditionType.ExportFailed,
            status: 'True',
            reason,
            message: `error exporting VM: ${message}`,
          },
          (s) => ({
            ...s,
            diskImportStatus: diskImportStatusOf(
              s.diskImportStatus,
              disks.values(),
              config.scratchDir,
              defaultBus,
            ),
          }),
        );
        return 'failed';
      }
      await record({ type: ImportConditionType.ExportAttemptFailed, status: 'True', reason, message });
    } catch (writeError) {
      if (writeError instanceof ImportGoneError) return 'skipped';
      log.error('could not record the export error', { error: writeError });
    }
    throw e;
  }
}

async function sourceTarget(
  kube: Kube,
  vmImport: VirtualMachineImport,
  config: ExporterConfig,
): Promise<SourceTarget> {
  const ref = vmImport.spec.sourceCluster;
  const kind = sourceKindOf(ref?.kind);
  if (!kind || !ref?.name)
    throw new SourceError(
      'InvalidSourceReference',
      `spec.sourceCluster must name a ${SOURCE_KINDS.join(', ').replace(/, (?=[^,]*$)/, ' or ')}`,
    );
  const namespace = ref.namespace || config.namespace;
  let source: Obj;
  try {
    source = await kube.get<Obj>(API_VERSION, kind, namespace, ref.name);
  } catch (e) {
    if (isNotFound(e))
      throw new SourceError(
        'SourceNotFound',
        `${kind} ${namespace}/${ref.name} no longer exists; recreate it and the import`,
      );
    throw e;
  }
  const data = await readCredentialsDir(config.credentialsDir);
  return {
    kind,
    source,
    vmImport,
    ...(data ? { credentials: { name: 'the source credentials Secret', data } } : {}),
  };
}

/** Images of an earlier attempt (the Job is re-run after a crash): the export starts over. */
async function removeEarlierImages(dir: string): Promise<void> {
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  await Promise.all(
    names.filter((n) => /^disk-\d+\.(img|raw)(\..*)?$/.test(n)).map((n) => rm(join(dir, n), { force: true })),
  );
}

/** qemu-img must see a raw image of exactly the disk's virtual size. */
async function verifyImage(
  path: string,
  disk: ExportedDisk,
  describedSize: number | undefined,
): Promise<void> {
  const { stdout } = await execa('qemu-img', ['info', '--output=json', '-f', 'raw', path]);
  const info = JSON.parse(stdout) as { 'virtual-size'?: number; format?: string };
  const expected = describedSize ?? disk.sizeBytes;
  if (info['virtual-size'] !== disk.sizeBytes || info['virtual-size'] !== expected)
    throw new SourceError(
      'DiskVerificationFailed',
      `${diskFileName(disk.index)}: qemu-img reports ${info['virtual-size']} bytes, the source disk has ${expected}`,
      { retryable: true },
    );
}

/** The VM description for the vm function: ConfigMap <import>-source-vm, key vm.json. */
async function publishSourceVm(kube: Kube, vmImport: VirtualMachineImport, vm: SourceVm): Promise<void> {
  const object: Obj = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: importObjectNames(vmImport.metadata.name!).sourceVm,
      namespace: vmImport.metadata.namespace ?? 'default',
      labels: importNameLabel(vmImport.metadata.name!),
      ownerReferences: [ownedByImport(vmImport)],
    },
    data: { 'vm.json': JSON.stringify(vm) },
  };
  const { object: existing, created } = await kube.ensure(object);
  if (!created) await kube.replace({ ...existing, data: object.data });
}
