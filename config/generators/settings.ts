// Defaults of the settings a Harvester admin can change. They end up in the generated manifests
// and in the ConfigMap `vm-import-settings` that every function and the export Job read.
export const settings = {
  /** Container image holding the functions, the exporter and the disk server. */
  image: 'ghcr.io/vm-import/vm-import:0.1.0',
  brokerClass: 'MTChannelBasedBroker',
  delivery: { retry: 5, backoffDelay: 'PT0.5S', timeout: 'PT30S' },
  /** PingSource schedule of the resync tick. */
  resyncSchedule: '*/1 * * * *',
  /** Knative request timeout of each function: functions do one short step, never wait. */
  functionTimeoutSeconds: 60,
  /** Settings read at run time (ConfigMap keys → env). */
  runtime: {
    LOG_LEVEL: 'info',
    /** StorageClass of the scratch volume; empty = the cluster default. */
    SCRATCH_STORAGE_CLASS: '',
    /** Scratch size = allocated bytes of the source disks x this factor, plus SCRATCH_MIN_GIB headroom. */
    SCRATCH_SIZE_FACTOR: '1.1',
    SCRATCH_MIN_GIB: '1',
    /** Disks of one VM exported at the same time. */
    EXPORT_DISK_CONCURRENCY: '2',
    /** Export Jobs running at the same time against one source endpoint. */
    EXPORT_JOBS_PER_SOURCE: '4',
    /** How often a failed VirtualMachineImage is resubmitted before the import fails. */
    IMAGE_RESUBMIT_LIMIT: '3',
    /** Seconds without progress after which an import step is considered stuck and reported. */
    STALL_SECONDS: '900',
  },
};
export type RuntimeSettings = typeof settings.runtime;
