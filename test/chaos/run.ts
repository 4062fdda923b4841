// npm run chaos [-- --only <kind>[,<kind>…]] [--subset] [--keep-state]
// Runs the chaos rows (test/chaos/faults/) on a fresh local cluster and prints the table; exits 1
// when a row fails. Kinds: test/chaos/fault.ts FAULT_KINDS.
import { parseArgs } from 'node:util';
import { runChaos } from './chaos-run.ts';
import { FAULT_KINDS, type FaultKind } from './fault.ts';
import { chaosTable } from './table.ts';

const { values } = parseArgs({
  options: {
    only: { type: 'string' },
    subset: { type: 'boolean', default: false },
    'keep-state': { type: 'boolean', default: false },
  },
});
const kinds = values.only?.split(',').map((k) => k.trim()) as FaultKind[] | undefined;
const unknown = kinds?.filter((k) => !(FAULT_KINDS as readonly string[]).includes(k)) ?? [];
if (unknown.length) {
  console.error(`unknown fault kind(s): ${unknown.join(', ')}; known: ${FAULT_KINDS.join(', ')}`);
  process.exit(2);
}
const started = Date.now();
const { rows, stateDir } = await runChaos({
  ...(kinds ? { kinds } : {}),
  subset: values.subset,
  keepState: values['keep-state'],
  log: (m) => console.log(`# ${new Date().toISOString().slice(11, 19)} ${m}`),
});
console.log(chaosTable(rows));
const failed = rows.filter((r) => r.problems.length);
console.log(
  `\n${rows.length - failed.length}/${rows.length} rows passed in ${((Date.now() - started) / 60000).toFixed(1)} min` +
    (values['keep-state'] ? `; state and logs in ${stateDir}` : ''),
);
process.exit(failed.length ? 1 : 0);
