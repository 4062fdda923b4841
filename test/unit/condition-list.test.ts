// Conditions keyed by type: setCondition updates one in place (lastTransitionTime only when the
// status changes); setConditionLast also moves it to the end, where readers look for the latest
// word (the failure after a SourcePoweredOn written in the same step).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Condition } from '../../functions/shared/api/index.ts';
import { setCondition, setConditionLast } from '../../functions/shared/condition-list.ts';

const T1 = new Date('2026-01-01T00:01:00Z');
const list: Condition[] = [
  { type: 'DisksExported', status: 'Unknown', reason: 'ExportJobCreated', message: 'Job created' },
  { type: 'VMPoweredOff', status: 'True', reason: 'PoweredOff', message: 'off' },
].map((c) => ({
  ...c,
  status: c.status as Condition['status'],
  lastUpdateTime: 'T0',
  lastTransitionTime: 'T0',
}));
const failed = {
  type: 'DisksExported',
  status: 'False',
  reason: 'OpenstackResourceFailed',
  message: 'upload killed',
} as const;

test('setCondition updates a condition of the same type where it stands', () => {
  const next = setCondition(list, failed, T1);
  assert.deepEqual(
    next.map((c) => [c.type, c.reason]),
    [
      ['DisksExported', 'OpenstackResourceFailed'],
      ['VMPoweredOff', 'PoweredOff'],
    ],
  );
  const changed = next[0]!.lastTransitionTime;
  assert.notEqual(changed, 'T0', 'status changed: new transition time');
  const same = setCondition(next, failed, new Date('2026-01-01T00:02:00Z'));
  assert.equal(same[0]!.lastTransitionTime, changed, 'status unchanged: transition time kept');
  assert.notEqual(same[0]!.lastUpdateTime, changed, 'update time moves');
});

test('setConditionLast puts the updated condition last, keeping the order of the others', () => {
  const withPower = setCondition(
    list,
    { type: 'SourcePoweredOn', status: 'True', reason: 'PoweredOn', message: 'on again' },
    T1,
  );
  const next = setConditionLast(withPower, failed, T1);
  assert.deepEqual(
    next.map((c) => c.type),
    ['VMPoweredOff', 'SourcePoweredOn', 'DisksExported'],
  );
  assert.equal(next.at(-1)!.message, 'upload killed');
  assert.deepEqual(
    setConditionLast(
      list,
      { type: 'StorageCapacity', status: 'Unknown', reason: 'CapacityUnknown', message: 'm' },
      T1,
    ).map((c) => c.type),
    ['DisksExported', 'VMPoweredOff', 'StorageCapacity'],
  );
});
