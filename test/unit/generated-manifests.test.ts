import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generatedFiles } from '../../config/generate.ts';

const root = join(import.meta.dirname, '../..');

test('committed manifests are exactly what the generator produces (run `npm run generate`)', async () => {
  const stale: string[] = [];
  for (const [path, content] of Object.entries(generatedFiles())) {
    const committed = await readFile(join(root, path), 'utf8').catch(() => '<missing>');
    if (committed !== content) stale.push(path);
  }
  assert.deepEqual(stale, []);
});
