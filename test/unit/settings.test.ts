// Runtime settings read from the environment, with their defaults.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { numberSetting, stringSetting } from '../../functions/shared/settings.ts';

describe('settings', () => {
  test('env wins, empty or invalid falls back to the default', () => {
    assert.equal(numberSetting('SCRATCH_SIZE_FACTOR', { SCRATCH_SIZE_FACTOR: '2' }), 2);
    assert.equal(numberSetting('SCRATCH_SIZE_FACTOR', { SCRATCH_SIZE_FACTOR: 'lots' }), 1.1);
    assert.equal(numberSetting('EXPORT_JOBS_PER_SOURCE', { EXPORT_JOBS_PER_SOURCE: '0' }, 1), 4);
    assert.equal(stringSetting('SCRATCH_STORAGE_CLASS', { SCRATCH_STORAGE_CLASS: ' ' }), '');
    assert.equal(numberSetting('EXPORT_JOB_DEADLINE_SECONDS', {}), 86400);
  });
});
