// The chaos subset `npm test` runs: the first row of each fault kind (test/chaos/faults/index.ts)
// on one local cluster; `npm run chaos` runs every row. Each row must end right: running with
// identical disks or failed with an actionable message, the source as the rules say, nothing left.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runChaos } from '../chaos/chaos-run.ts';
import { chaosTable } from '../chaos/table.ts';

test('one fault of each kind, injected mid-import: every import still ends right and leaves nothing behind', async () => {
  const { rows, stateDir } = await runChaos({
    subset: true,
    keepState: !!process.env.KEEP_E2E_STATE,
    log: (m) => console.log(`# ${m}`),
  });
  console.log(chaosTable(rows));
  if (process.env.KEEP_E2E_STATE) console.log(`# local cluster state and logs kept in ${stateDir}`);
  const failed = rows.filter((r) => r.problems.length);
  assert.deepEqual(
    failed.map((r) => `${r.fault} (${r.source}, ${r.moment}): ${r.problems.join('; ')}`),
    [],
  );
});
