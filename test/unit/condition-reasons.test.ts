import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CONDITION_REASONS, isConditionReason } from '../../functions/shared/condition-reasons.ts';

// k8s.io/apimachinery/pkg/apis/meta/v1/types.go, Condition.Reason: the API server rejects any
// other reason on a metav1.Condition; Events' reasons follow the same CamelCase convention.
const KUBERNETES_REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

test('every catalogued reason is listed once and is a valid Kubernetes condition reason', () => {
  assert.equal(new Set(CONDITION_REASONS).size, CONDITION_REASONS.length);
  for (const reason of CONDITION_REASONS) {
    assert.match(reason, KUBERNETES_REASON);
    assert.ok(reason.length <= 1024, reason);
  }
});

test('a reason read back from a stored condition is recognised only if catalogued', () => {
  assert.equal(isConditionReason('ToolsNotRunning'), true);
  assert.equal(isConditionReason('BackoffLimitExceeded'), false);
  assert.equal(isConditionReason(''), false);
  assert.equal(isConditionReason(null), false);
  assert.equal(isConditionReason(undefined), false);
});
