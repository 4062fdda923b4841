// Settings a Harvester admin can change, with their defaults. The defaults end up in the generated
// manifests (config/) and in the ConfigMap `vm-import-settings`, whose keys reach every function
// and the export Job as environment variables. A value that does not parse falls back to the
// default: a typo in the ConfigMap must not stop every import.
import { sourceSettingDefaults } from './sources/adapters.ts';

/** Container image holding the functions, the exporter and the disk server. */
const IMAGE = 'ghcr.io/vm-import/vm-import:0.1.0';

export const settings = {
  image: IMAGE,
  brokerClass: 'MTChannelBasedBroker',
  delivery: { retry: 5, backoffDelay: 'PT0.5S', timeout: 'PT30S' },
  /** PingSource schedule of the resync tick. */
  resyncSchedule: '*/1 * * * *',
  /** Knative request timeout of each function: functions do one short step, never wait. */
  functionTimeoutSeconds: 60,
  /** Settings read at run time (ConfigMap keys → env). */
  runtime: {
    LOG_LEVEL: 'info',
    /**
     * Image of the workloads the functions create (export Job, disk server). config/'s
     * kustomizeconfig.yaml makes kustomize's `images:` rewrite it with the functions' own image,
     * so one override changes every workload.
     */
    VM_IMPORT_IMAGE: IMAGE,
    /** StorageClass of the scratch volume; empty = the cluster default. */
    SCRATCH_STORAGE_CLASS: '',
    /** Scratch size = allocated bytes of the source disks x this factor, plus SCRATCH_MIN_GIB headroom. */
    SCRATCH_SIZE_FACTOR: '1.1',
    SCRATCH_MIN_GIB: '1',
    /** Disks of one VM exported at the same time. */
    EXPORT_DISK_CONCURRENCY: '2',
    /** Export Jobs running at the same time against one source object (its kind, namespace and name). */
    EXPORT_JOBS_PER_SOURCE: '4',
    /** How often a failed VirtualMachineImage is resubmitted before the import fails. */
    IMAGE_RESUBMIT_LIMIT: '3',
    /** activeDeadlineSeconds of the export Job: a whole export, however large, must end by then. */
    EXPORT_JOB_DEADLINE_SECONDS: '86400',
    /** Minimum interval between the export Job's progress writes into the import's status. */
    PROGRESS_INTERVAL_MS: '2000',
    /** Each source's own settings (sources/<kind>/settings.ts). */
    ...sourceSettingDefaults,
  },
};

type Env = Readonly<Record<string, string | undefined>>;
export type SettingName = keyof typeof settings.runtime;

/** The setting as a string; empty or missing → the default. */
export function stringSetting(name: SettingName, env: Env = process.env): string {
  const value = env[name]?.trim();
  return value ? value : settings.runtime[name];
}

/** The setting as a finite number >= min; anything else → the default. */
export function numberSetting(name: SettingName, env: Env = process.env, min = 0): number {
  const value = Number(env[name]?.trim() || NaN);
  return Number.isFinite(value) && value >= min ? value : Number(settings.runtime[name]);
}

/** The container image of the export Job and the disk server (setting VM_IMPORT_IMAGE). */
export function vmImportImage(env: Env = process.env): string {
  return stringSetting('VM_IMPORT_IMAGE', env);
}
