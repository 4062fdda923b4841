// sourceReady → disksExported / VMMigrationFailed from what the export Job reported (VMExported,
// VMExportFailed) or, when it could not report, from the Job's own Failed condition. Pure.
import { isConditionReason, type ConditionReason } from '../shared/condition-reasons.ts';
import { ImportConditionType, ImportStatus, type VirtualMachineImportStatus } from '../shared/api/index.ts';
import { getCondition, isTrue } from '../shared/condition-list.ts';
import type { StepOutcome } from '../shared/phase-function.ts';

export interface FinishedJob {
  namespace: string;
  name: string;
  type: 'Complete' | 'Failed';
  /** The Job's own condition reason (BackoffLimitExceeded, DeadlineExceeded, …). */
  reason: string;
  message: string;
}

export function decideExportStatus(
  status: VirtualMachineImportStatus,
  job: FinishedJob | undefined,
): StepOutcome {
  const conditions = status.importConditions;
  const exported = getCondition(conditions, ImportConditionType.Exported);
  if (exported?.status === 'True') {
    const next = { ...status, importStatus: ImportStatus.DisksExported };
    const message = exported.message || 'the disks were exported';
    return {
      action: 'update',
      status: next,
      condition: {
        type: ImportConditionType.DisksExported,
        status: 'True',
        reason: 'DisksExported',
        message,
      },
      event: { type: 'Normal', reason: 'DisksExported', message },
    };
  }
  const failed = getCondition(conditions, ImportConditionType.ExportFailed);
  if (failed?.status === 'True')
    return fail(
      status,
      isConditionReason(failed.reason) ? failed.reason : 'ExportFailed',
      failed.message || 'the export failed',
    );
  if (!job) return { action: 'ignore' };

  const logs = `read its logs with: kubectl logs -n ${job.namespace} job/${job.name}`;
  const lastError = isTrue(conditions, ImportConditionType.ExportAttemptFailed)
    ? `; last error: ${getCondition(conditions, ImportConditionType.ExportAttemptFailed)?.message ?? ''}`
    : '';
  if (job.type === 'Failed') {
    const why = [job.reason, job.message].filter(Boolean).join(': ') || 'failed';
    return fail(
      status,
      'ExportJobFailed',
      `export Job ${job.namespace}/${job.name} failed (${why})${lastError}; ${logs}, fix the cause, then delete and re-create the import`,
    );
  }
  return fail(
    status,
    'ExportJobFinishedWithoutResult',
    `export Job ${job.namespace}/${job.name} completed without recording VMExported or VMExportFailed${lastError}; ${logs}`,
  );
}

function fail(status: VirtualMachineImportStatus, reason: ConditionReason, message: string): StepOutcome {
  const next = { ...status, importStatus: ImportStatus.Failed };
  return {
    action: 'update',
    status: next,
    condition: { type: ImportConditionType.DisksExported, status: 'False', reason, message },
    event: { type: 'Warning', reason, message },
  };
}
