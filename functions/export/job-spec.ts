// The objects the export function creates for an import: scratch PVC, credentials Secret copy,
// export Job. Pure builders: the same import always yields the same names and specs.
import { EXPORT_SOURCE_LABEL } from '../shared/labels.ts';
import { programCommand } from '../shared/image-programs.ts';
import type { VirtualMachineImport } from '../shared/api/index.ts';
import type { Obj } from '../shared/kube/client.ts';
import { importNameLabel, importObjectNames, ownedByImport } from '../shared/import-objects.ts';
import { labelValue } from '../shared/naming.ts';
import type { SettingName } from '../shared/settings.ts';
import { sourceSettingDefaults, type SourceSettingName } from '../shared/sources/adapters.ts';
import { quantityOf } from '../shared/sources/scratch-size.ts';

export const EXPORTER_SERVICE_ACCOUNT = 'vm-import-exporter';
export const EXPORTER_CONTAINER = 'exporter';
export const EXPORTER_COMMAND = programCommand('exporter');
export const SCRATCH_MOUNT = '/scratch';
export const CREDENTIALS_MOUNT = '/credentials';
export const JOB_BACKOFF_LIMIT = 2;
/** Non-root user of the exporter image (the "nonroot" uid of distroless/chainguard images). */
export const EXPORTER_UID = 65532;

/** Settings copied from the function's env into the Job's (the ConfigMap is in another namespace). */
export const JOB_SETTING_NAMES: readonly SettingName[] = [
  'EXPORT_DISK_CONCURRENCY',
  'LOG_LEVEL',
  'PROGRESS_INTERVAL_MS',
  // The sources' own settings: the Job powers off and exports through their adapters.
  ...(Object.keys(sourceSettingDefaults) as SourceSettingName[]),
];

export const scratchPvcName = (importName: string) => importObjectNames(importName).scratchClaim;
export const credentialsSecretName = (importName: string) => importObjectNames(importName).credentials;
export const exportJobName = (importName: string) => importObjectNames(importName).exportJob;

export interface SourceIdentity {
  kind: string;
  namespace: string;
  name: string;
}

/** Label value naming a source object (kind, namespace and name; hashed when long). */
export const exportSourceLabelValue = (s: SourceIdentity) =>
  labelValue(`${s.kind.toLowerCase()}.${s.namespace}.${s.name}`);

function ownedMetadata(vmImport: VirtualMachineImport, name: string, labels: Record<string, string> = {}) {
  return {
    name,
    namespace: vmImport.metadata.namespace ?? 'default',
    labels: { ...importNameLabel(vmImport.metadata.name!), ...labels },
    ownerReferences: [ownedByImport(vmImport)],
  };
}

export function buildScratchPvc(vmImport: VirtualMachineImport, sizeGiB: number, storageClass: string): Obj {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: ownedMetadata(vmImport, scratchPvcName(vmImport.metadata.name!)),
    spec: {
      accessModes: ['ReadWriteOnce'],
      volumeMode: 'Filesystem',
      resources: { requests: { storage: quantityOf(sizeGiB) } },
      ...(storageClass ? { storageClassName: storageClass } : {}),
    },
  };
}

/** A copy of the source's Secret in the import's namespace (a Pod can only mount its own namespace's). */
export function buildCredentialsSecret(vmImport: VirtualMachineImport, data: Record<string, string>): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(vmImport, credentialsSecretName(vmImport.metadata.name!)),
    type: 'Opaque',
    data,
  };
}

export interface ExportJobInput {
  image: string;
  source: SourceIdentity;
  /** Name of the Secret to mount at /credentials, in the import's namespace; none for OVA without credentials. */
  credentialsSecret?: string;
  deadlineSeconds: number;
  /** The function's env: the settings named in JOB_SETTING_NAMES are copied when set. */
  env: Readonly<Record<string, string | undefined>>;
}

export function buildExportJob(vmImport: VirtualMachineImport, input: ExportJobInput): Obj {
  const importName = vmImport.metadata.name!;
  const namespace = vmImport.metadata.namespace ?? 'default';
  const labels = { [EXPORT_SOURCE_LABEL]: exportSourceLabelValue(input.source) };
  const env = [
    { name: 'IMPORT_NAMESPACE', value: namespace },
    { name: 'IMPORT_NAME', value: importName },
    { name: 'IMPORT_UID', value: vmImport.metadata.uid! },
    { name: 'SCRATCH_DIR', value: SCRATCH_MOUNT },
    { name: 'CREDENTIALS_DIR', value: CREDENTIALS_MOUNT },
    ...JOB_SETTING_NAMES.filter((n) => input.env[n]?.trim()).map((n) => ({
      name: n,
      value: input.env[n]!.trim(),
    })),
  ];
  // The root filesystem is read-only and the exporter writes only to scratch: no other volume.
  const volumes: Array<Record<string, unknown>> = [
    { name: 'scratch', persistentVolumeClaim: { claimName: scratchPvcName(importName) } },
  ];
  const mounts: Array<Record<string, unknown>> = [{ name: 'scratch', mountPath: SCRATCH_MOUNT }];
  if (input.credentialsSecret) {
    volumes.push({
      name: 'credentials',
      secret: { secretName: input.credentialsSecret, defaultMode: 0o400 },
    });
    mounts.push({ name: 'credentials', mountPath: CREDENTIALS_MOUNT, readOnly: true });
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: ownedMetadata(vmImport, exportJobName(importName), labels),
    spec: {
      backoffLimit: JOB_BACKOFF_LIMIT,
      activeDeadlineSeconds: input.deadlineSeconds,
      template: {
        metadata: { labels: { ...importNameLabel(importName), ...labels } },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: EXPORTER_SERVICE_ACCOUNT,
          securityContext: {
            runAsNonRoot: true,
            runAsUser: EXPORTER_UID,
            runAsGroup: EXPORTER_UID,
            fsGroup: EXPORTER_UID,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: EXPORTER_CONTAINER,
              image: input.image,
              command: EXPORTER_COMMAND,
              env,
              volumeMounts: mounts,
              securityContext: {
                allowPrivilegeEscalation: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
            },
          ],
          volumes,
        },
      },
    },
  };
}
