// Condition types of the export slice beyond the upstream ones (VMShutdownGuest … VMExportFailed).

/** Kept by the export function (Job created / queued) and export-status (exported / failed). */
export const DISKS_EXPORTED_CONDITION = 'DisksExported';
/** Last error of an export attempt that the Job's backoff retries; export-status quotes it. */
export const ATTEMPT_FAILED_CONDITION = 'ExportAttemptFailed';
/** The guest OS the source reports and the disk bus / NIC model choice made from it. */
export const GUEST_OS_CONDITION = 'GuestOperatingSystem';
