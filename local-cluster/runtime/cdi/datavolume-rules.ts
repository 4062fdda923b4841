// What CDI (kubevirt/containerized-data-importer) does with a DataVolume whose source is HTTP,
// as pure functions: the target claim, the importer pod, and the DataVolume's status read from
// them. The I/O is in controller.ts. Sources cited per function (CDI v1.66).
import type { KubeObject } from '../../../functions/shared/kube/client.ts';
import type { StorageClass } from '../storage/classes.ts';

export type DataVolume = KubeObject & {
  spec?: {
    source?: { http?: { url?: string; certConfigMap?: string } };
    storage?: {
      storageClassName?: string;
      accessModes?: string[];
      volumeMode?: string;
      resources?: { requests?: { storage?: string } };
    };
  };
  status?: DataVolumeStatus;
};

export interface DataVolumeCondition {
  type: 'Bound' | 'Running' | 'Ready';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime?: string;
  lastHeartbeatTime?: string;
}

export interface DataVolumeStatus {
  phase?: string;
  progress?: string;
  restartCount?: number;
  claimName?: string;
  conditions?: DataVolumeCondition[];
}

/** pkg/common/common.go: CDILabelKey/Value, CDIComponentLabel, ImporterPodName, PrometheusLabelKey. */
export const CDI_LABELS = { app: 'containerized-data-importer' } as const;
export const IMPORTER_POD_LABELS = {
  app: 'containerized-data-importer',
  'cdi.kubevirt.io': 'importer',
  'prometheus.cdi.kubevirt.io': 'true',
} as const;
/** pkg/common/common.go QemuSubGid: the importer's user and fsGroup. */
const QEMU_UID = 107;
const MIB = 1024 * 1024;
/** pkg/common/common.go DefaultGlobalOverhead. */
const FILESYSTEM_OVERHEAD = 0.06;

/** pkg/controller/common/util.go: the PVC annotations CDI's import path keeps. */
export const ANN = {
  endpoint: 'cdi.kubevirt.io/storage.import.endpoint',
  source: 'cdi.kubevirt.io/storage.import.source',
  contentType: 'cdi.kubevirt.io/storage.contentType',
  importPod: 'cdi.kubevirt.io/storage.import.importPodName',
  podPhase: 'cdi.kubevirt.io/storage.pod.phase',
  podRestarts: 'cdi.kubevirt.io/storage.pod.restarts',
} as const;

/**
 * The StorageProfile's first claimPropertySet for a class (pkg/storagecapabilities/storagecapabilities.go
 * CapabilitiesByProvisionerKey, storageProvisionerKey: Longhorn is keyed by its `migratable`,
 * `nfsOptions` and `fsType` parameters). Undefined: CDI knows no capabilities for the provisioner and
 * a DataVolume with the storage API then needs accessModes of its own.
 */
export function claimPropertySet(sc: StorageClass): { accessMode: string; volumeMode: string } | undefined {
  const rwx = 'ReadWriteMany';
  const rwo = 'ReadWriteOnce';
  switch (sc.provisioner) {
    case 'driver.longhorn.io': {
      const p = sc.parameters ?? {};
      if (p.migratable === 'true') return { accessMode: rwx, volumeMode: 'Block' };
      if (p.nfsOptions) return { accessMode: rwx, volumeMode: 'Filesystem' };
      if (p.fsType) return { accessMode: rwo, volumeMode: 'Filesystem' };
      return { accessMode: rwo, volumeMode: 'Block' };
    }
    case 'rook-ceph.rbd.csi.ceph.com': // createRbdCapabilities
      return { accessMode: rwx, volumeMode: 'Block' };
    default:
      return undefined;
  }
}

export function quantityToBytes(q: string | undefined): number | undefined {
  if (!q) return undefined;
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q.trim());
  if (!m) return undefined;
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 }[
    m[2] ?? ''
  ];
  return Number(m[1]) * (unit ?? 1);
}

/**
 * The DataVolume's PVC, same name and namespace, owned by the DataVolume (datavolume/controller-base.go
 * newPersistentVolumeClaim; storage API rendered by renderPvcSpec: the profile's access and volume
 * mode when the DataVolume names none; a Filesystem claim is inflated by the filesystem overhead,
 * pkg/util/util.go GetRequiredSpace; below 1 MiB is refused).
 */
export function targetClaim(dv: DataVolume, sc: StorageClass): { claim: KubeObject } | { error: string } {
  const storage = dv.spec?.storage ?? {};
  const requested = quantityToBytes(storage.resources?.requests?.storage);
  if (requested === undefined) return { error: 'PVC Spec is not valid - missing storage size' };
  if (requested < MIB) return { error: 'PVC Spec is not valid - storage size should be at least 1MiB' };
  const profile = claimPropertySet(sc);
  const accessModes = storage.accessModes?.length ? storage.accessModes : profile && [profile.accessMode];
  if (!accessModes) return { error: `no accessMode specified in StorageProfile ${sc.metadata!.name}` };
  const volumeMode = storage.volumeMode ?? profile?.volumeMode ?? 'Filesystem';
  const bytes =
    volumeMode === 'Filesystem'
      ? Math.ceil(Math.ceil(requested / MIB) * MIB * (1 + FILESYSTEM_OVERHEAD))
      : requested;
  const url = dv.spec?.source?.http?.url ?? '';
  const claim: KubeObject = {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: {
      name: dv.metadata!.name,
      namespace: dv.metadata!.namespace,
      labels: { ...CDI_LABELS },
      annotations: {
        [ANN.endpoint]: url,
        [ANN.source]: 'http',
        [ANN.contentType]: 'kubevirt',
        [ANN.importPod]: importerPodName(dv.metadata!.name!),
        [ANN.podRestarts]: '0',
      },
      ownerReferences: [
        {
          apiVersion: 'cdi.kubevirt.io/v1beta1',
          kind: 'DataVolume',
          name: dv.metadata!.name!,
          uid: dv.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      storageClassName: sc.metadata!.name,
      accessModes,
      volumeMode,
      resources: { requests: { storage: String(bytes) } },
    },
  };
  return { claim };
}

/** import-controller.go importPodNameFromPvc: naming.GetResourceName("importer", pvc name). */
export function importerPodName(claimName: string): string {
  return `importer-${claimName}`;
}

/**
 * import-controller.go makeImporterPodSpec / makeImporterContainerSpec / makeImportEnv, with
 * SetRestrictedSecurityContext (runAsUser and fsGroup 107): owned by the claim, restartPolicy
 * OnFailure, the claim at /data or as /dev/cdi-block-volume, metrics port 8443.
 */
export function importerPod(dv: DataVolume, claim: KubeObject, image: string): KubeObject {
  const block = (claim.spec as { volumeMode?: string }).volumeMode === 'Block';
  const container: Record<string, unknown> = {
    name: 'importer',
    image,
    args: ['-v=1'],
    env: [
      { name: 'IMPORTER_SOURCE', value: 'http' },
      { name: 'IMPORTER_ENDPOINT', value: dv.spec?.source?.http?.url ?? '' },
      { name: 'IMPORTER_CONTENTTYPE', value: 'kubevirt' },
      { name: 'IMPORTER_IMAGE_SIZE', value: dv.spec?.storage?.resources?.requests?.storage ?? '' },
      { name: 'OWNER_UID', value: dv.metadata!.uid },
    ],
    ports: [{ name: 'metrics', containerPort: 8443, protocol: 'TCP' }],
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      runAsNonRoot: true,
      runAsUser: QEMU_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...(block
      ? { volumeDevices: [{ name: 'cdi-data-vol', devicePath: '/dev/cdi-block-volume' }] }
      : { volumeMounts: [{ name: 'cdi-data-vol', mountPath: '/data' }] }),
  };
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: importerPodName(claim.metadata!.name!),
      namespace: claim.metadata!.namespace,
      labels: { ...IMPORTER_POD_LABELS },
      annotations: { 'cdi.kubevirt.io/storage.createdByController': 'yes' },
      ownerReferences: [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          name: claim.metadata!.name!,
          uid: claim.metadata!.uid!,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      restartPolicy: 'OnFailure',
      enableServiceLinks: false,
      containers: [container],
      volumes: [{ name: 'cdi-data-vol', persistentVolumeClaim: { claimName: claim.metadata!.name } }],
      securityContext: {
        seccompProfile: { type: 'RuntimeDefault' },
        ...(block ? {} : { fsGroup: QEMU_UID }),
      },
    },
  };
}

type PodLike = KubeObject & {
  status?: {
    phase?: string;
    containerStatuses?: {
      restartCount?: number;
      state?: {
        running?: unknown;
        waiting?: { reason?: string; message?: string };
        terminated?: { reason?: string; message?: string; exitCode?: number };
      };
      lastState?: { terminated?: { reason?: string; message?: string; exitCode?: number } };
    }[];
  };
};

type ClaimLike = KubeObject & { status?: { phase?: string } };

/** import-controller.go and datavolume/conditions.go: phase event reasons and messages. */
export interface DataVolumeEvent {
  type: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

/**
 * The DataVolume's status from its claim and importer pod (datavolume/controller-base.go
 * updateStatus, import-controller.go updateStatusPhase, controller/util.go
 * setAnnotationsFromPodWithPrefix, datavolume/conditions.go updateConditions):
 *  - claim Pending → Pending (Bound False, reason Pending, "PVC <n> Pending");
 *  - claim Bound, pod Pending → ImportScheduled; Running → ImportInProgress (Running True,
 *    reason Pod is running); Succeeded → Succeeded, progress 100.0%, Ready True;
 *  - a failed container is restarted by the kubelet (OnFailure): the phase stays, restartCount
 *    follows the container's, Running False with the reason of its last termination (Error).
 * `previous` keeps transition times of unchanged conditions.
 */
export function dataVolumeStatus(
  previous: DataVolumeStatus | undefined,
  claim: ClaimLike | undefined,
  pod: PodLike | undefined,
  progress: string | undefined,
  now: string,
): { status: DataVolumeStatus; event?: DataVolumeEvent } {
  const prev = previous ?? {};
  let phase = prev.phase ?? 'Pending';
  let event: DataVolumeEvent | undefined;
  const conds = new Map((prev.conditions ?? []).map((c) => [c.type, c]));
  const set = (
    type: DataVolumeCondition['type'],
    status: DataVolumeCondition['status'],
    reason: string,
    message: string,
  ) => {
    const old = conds.get(type);
    const changed = old?.status !== status;
    conds.set(type, {
      type,
      status,
      reason,
      message,
      lastTransitionTime: changed ? now : (old?.lastTransitionTime ?? now),
      lastHeartbeatTime:
        changed || old?.reason !== reason || old?.message !== message ? now : (old?.lastHeartbeatTime ?? now),
    });
  };
  const name = claim?.metadata?.name ?? '';
  let restartCount = prev.restartCount ?? 0;
  if (!claim) {
    phase = 'Pending';
    set('Bound', 'False', 'NotFound', 'No PVC found');
    set('Ready', 'False', '', '');
    set('Running', 'False', '', '');
  } else if (claim.status?.phase !== 'Bound') {
    phase = 'Pending';
    set('Bound', 'False', 'Pending', `PVC ${name} Pending`);
    set('Ready', 'False', '', '');
    set('Running', 'False', '', '');
  } else {
    set('Bound', 'True', 'Bound', `PVC ${name} Bound`);
    const container = pod?.status?.containerStatuses?.[0];
    restartCount = Math.max(restartCount, container?.restartCount ?? 0);
    const podPhase = pod?.status?.phase;
    if (phase === 'Succeeded') {
      // Done: the importer pod is gone, nothing changes any more.
    } else if (podPhase === 'Succeeded') {
      phase = 'Succeeded';
      event = {
        type: 'Normal',
        reason: 'ImportSucceeded',
        message: `Successfully imported into PVC ${name}`,
      };
    } else if (podPhase === 'Running' && container?.state?.running) {
      if (phase !== 'ImportInProgress')
        event = { type: 'Normal', reason: 'ImportInProgress', message: `Import into ${name} in progress` };
      phase = 'ImportInProgress';
      set('Running', 'True', 'Pod is running', '');
      set('Ready', 'False', 'TransferRunning', '');
    } else if (podPhase === 'Failed') {
      // Only a fatal error (checksum mismatch) makes the DataVolume Failed; the phase stays.
      const t = container?.state?.terminated;
      set('Running', 'False', t?.reason ?? 'Error', t?.message ?? '');
      event = { type: 'Warning', reason: 'ImportFailed', message: `Failed to import into PVC ${name}` };
    } else if (container && !container.state?.running) {
      // Restarting (CrashLoopBackOff) or waiting: CDI keeps the reason of the last termination.
      const last = container.lastState?.terminated;
      const waiting = container.state?.waiting;
      if (waiting && waiting.reason !== 'CrashLoopBackOff')
        set('Running', 'False', waiting.reason ?? '', waiting.message ?? '');
      else if (last) set('Running', 'False', last.reason ?? 'Error', last.message ?? '');
      if (phase === 'Pending' || phase === 'PVCBound') phase = 'ImportScheduled';
    } else {
      if (phase !== 'ImportScheduled')
        event = { type: 'Normal', reason: 'ImportScheduled', message: `Import into ${name} scheduled` };
      phase = 'ImportScheduled';
      set('Running', 'False', '', '');
      set('Ready', 'False', '', '');
    }
    if (phase === 'Succeeded') {
      set('Running', 'False', 'Completed', '');
      set('Ready', 'True', '', '');
    }
  }
  const status: DataVolumeStatus = {
    ...prev,
    phase,
    restartCount,
    progress: phase === 'Succeeded' ? '100.0%' : (progress ?? prev.progress ?? 'N/A'),
    conditions: (['Bound', 'Running', 'Ready'] as const).flatMap((t) =>
      conds.get(t) ? [conds.get(t)!] : [],
    ),
    ...(claim ? { claimName: name } : {}),
  };
  return { status, ...(event ? { event } : {}) };
}

/** The importer's progress from its metrics (cc.GetProgressReportFromURL), as the DataVolume shows it ("45.20%"). */
export function progressFromMetrics(text: string, ownerUid: string): string | undefined {
  for (const line of text.split('\n')) {
    const m = /^kubevirt_cdi_import_progress_total\{([^}]*)\}\s+([0-9.eE+-]+)/.exec(line);
    if (!m || !m[1]!.includes(`ownerUID="${ownerUid}"`)) continue;
    const value = Number(m[2]);
    if (Number.isFinite(value)) return `${value.toFixed(2)}%`;
  }
  return undefined;
}
