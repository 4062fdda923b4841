import { test } from 'node:test';
import assert from 'node:assert/strict';
test('node 22 runs the tests', () => {
  assert.ok(Number(process.versions.node.split('.')[0]) >= 22);
});
