// Every YAML example in the user's seed documents must be accepted unchanged by our schemas.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { API_VERSION, KINDS, type KindName } from '../../functions/shared/api/index.ts';

// Copies of the user's seed documents (shared/seeds), so the test runs in any clone.
const SEEDS = join(import.meta.dirname, '../fixtures/seeds');

/** Fenced code blocks of a markdown-ish document, with their indentation removed. */
export function fencedBlocks(text: string): string[] {
  const blocks: string[] = [];
  const fence = /^([ \t]*)```[^\n`]*\n([\s\S]*?)^[ \t]*```/gm;
  for (const m of text.matchAll(fence)) {
    const indent = m[1]!.length;
    blocks.push(
      m[2]!
        .split('\n')
        .map((line) => line.slice(Math.min(indent, line.length - line.trimStart().length)))
        .join('\n'),
    );
  }
  return blocks;
}

interface Example {
  file: string;
  doc: { apiVersion?: unknown; kind?: unknown };
}

async function seedExamples(): Promise<Example[]> {
  const examples: Example[] = [];
  for (const file of (await readdir(SEEDS)).sort()) {
    for (const block of fencedBlocks(await readFile(join(SEEDS, file), 'utf8'))) {
      const docs = parseAllDocuments(block);
      if (!Array.isArray(docs) || docs.some((d) => d.errors.length)) continue; // not YAML (shell, logs)
      for (const d of docs) {
        const doc = d.toJS() as Example['doc'] | null;
        if (doc && typeof doc === 'object' && 'apiVersion' in doc && 'kind' in doc)
          examples.push({ file, doc });
      }
    }
  }
  return examples;
}

test('the fenced-block extractor keeps YAML and strips list indentation', () => {
  const blocks = fencedBlocks(
    'text\n    ```\n    a: 1\n    b:\n      c: 2\n    ```\nmore\n```yaml\nx: y\n```\n',
  );
  assert.deepEqual(blocks, ['a: 1\nb:\n  c: 2\n', 'x: y\n']);
});

test('every seed example of our API parses unchanged with its schema', async () => {
  const examples = await seedExamples();
  const ours = examples.filter((e) => e.doc.apiVersion === API_VERSION);
  assert.ok(ours.length >= 10, `found ${ours.length} examples of ${API_VERSION} in the seeds`);
  const kindsSeen = new Set<string>();
  for (const { file, doc } of ours) {
    const info = KINDS[doc.kind as KindName];
    assert.ok(info, `${file}: unknown kind ${String(doc.kind)}`);
    const parsed = info.schema.safeParse(doc);
    assert.ok(parsed.success, `${file}: ${String(doc.kind)} rejected: ${parsed.error?.message}`);
    // Nothing the user wrote is lost: parsing keeps every spec field.
    assert.deepEqual(
      (parsed.data as { spec: unknown }).spec,
      (doc as { spec: unknown }).spec,
      `${file}: spec changed`,
    );
    kindsSeen.add(String(doc.kind));
  }
  assert.deepEqual([...kindsSeen].sort(), ['OpenstackSource', 'VirtualMachineImport', 'VmwareSource']);
});

test('the seed Secrets are plain v1 Secrets with the upstream keys', async () => {
  const secrets = (await seedExamples()).filter((e) => e.doc.kind === 'Secret');
  assert.ok(secrets.length >= 2);
  const keys = new Set(
    secrets.flatMap((s) => Object.keys((s.doc as { stringData?: object }).stringData ?? {})),
  );
  for (const key of ['username', 'password', 'project_name', 'domain_name']) assert.ok(keys.has(key), key);
});
