// export-status's decision from the import's conditions and the export Job.
import { overallProgress } from '../../functions/shared/progress.ts';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { decideExportStatus } from '../../functions/export-status/decide.ts';

describe('export-status decisions', () => {
  const job = { namespace: 'team-a', name: 'my-import-export' };
  test('VMExported=True → disksExported with the exporter message and 60 %', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          { type: 'VMExported', status: 'True', reason: 'DisksExported', message: 'exported 2 disk(s)' },
        ],
      },
      undefined,
    );
    assert.equal(out.action, 'update');
    if (out.action !== 'update') return;
    assert.equal(out.status.importStatus, 'disksExported');
    assert.equal(overallProgress(out.status), 60, 'the frame writes this progress');
    assert.deepEqual([out.condition?.status, out.condition?.message], ['True', 'exported 2 disk(s)']);
  });
  test('VMExportFailed=True → VMMigrationFailed with its reason and message', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          { type: 'VMExportFailed', status: 'True', reason: 'ToolsNotRunning', message: 'no tools' },
        ],
      },
      { ...job, type: 'Complete', reason: '', message: '' },
    );
    assert.ok(out.action === 'update');
    assert.equal(out.status.importStatus, 'VMMigrationFailed');
    assert.deepEqual([out.condition?.reason, out.condition?.message], ['ToolsNotRunning', 'no tools']);
  });
  test('a failed Job without a result names the Job, the reason, the last error and the logs', () => {
    const out = decideExportStatus(
      {
        importStatus: 'sourceReady',
        importConditions: [
          {
            type: 'ExportAttemptFailed',
            status: 'True',
            reason: 'EndpointUnreachable',
            message: 'ECONNREFUSED',
          },
        ],
      },
      {
        ...job,
        type: 'Failed',
        reason: 'BackoffLimitExceeded',
        message: 'Job has reached the specified backoff limit',
      },
    );
    assert.ok(out.action === 'update');
    assert.equal(out.status.importStatus, 'VMMigrationFailed');
    assert.equal(out.condition?.reason, 'ExportJobFailed');
    assert.match(out.condition!.message, /team-a\/my-import-export failed \(BackoffLimitExceeded/);
    assert.match(out.condition!.message, /ECONNREFUSED/);
    assert.match(out.condition!.message, /kubectl logs -n team-a job\/my-import-export/);
  });
  test('running Job, nothing recorded → ignore', () => {
    assert.deepEqual(decideExportStatus({ importStatus: 'sourceReady' }, undefined), { action: 'ignore' });
  });
});
