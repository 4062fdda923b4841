// A node:test reporter that ends the run with one line CI can read: "N passed, N failed".
// Suites are not counted, only the tests inside them; skipped and todo tests are counted apart.
// The line is written synchronously when the process exits: with --test-force-exit the runner
// exits before a reporter's last yielded chunk would be flushed.
import { writeSync } from 'node:fs';
import type { TestEvent } from 'node:test/reporters';

export default async function* summaryReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  process.once('exit', () => {
    writeSync(1, `\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  });
  for await (const event of source) {
    if (event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    if (event.data.details.type === 'suite') continue;
    if (event.data.skip || event.data.todo) skipped++;
    else if (event.type === 'test:pass') passed++;
    else failed++;
  }
  yield '';
}
