// The boundary rules of .dependency-cruiser.js fail on a forbidden import: a copy of the tree gets
// one planted import per rule, and `npm run lint:deps`'s own command must report exactly those.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cp, mkdtemp, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { execa } from 'execa';

const root = join(import.meta.dirname, '../..');
const TREES = ['functions', 'events', 'config', 'bench', 'test', 'local-cluster'];
const SKIP = /(^|\/)(node_modules|\.fixtures|\.local|work)(\/|$)/;

/** Each planted file, what it imports, and the rule that must reject it (undefined: allowed). */
const PLANTS: Array<{ file: string; code: string; targets?: string[]; rule: string | undefined }> = [
  {
    file: 'functions/vm/planted.ts',
    code: "import '../images/planted-target.ts';",
    targets: ['functions/images/planted-target.ts'],
    rule: 'function-imports-another-function',
  },
  {
    file: 'functions/vm/planted-own.ts',
    code: "import './planted-own-target.ts';\nimport '../shared/planted-target.ts';",
    targets: ['functions/vm/planted-own-target.ts', 'functions/shared/planted-target.ts'],
    rule: undefined,
  },
  {
    file: 'functions/shared/sources/vmware/planted.ts',
    code: "import '../ova/planted-target.ts';",
    targets: ['functions/shared/sources/ova/planted-target.ts'],
    rule: 'source-imports-another-source',
  },
  {
    file: 'functions/shared/sources/ova/planted-up.ts',
    code: "import '../../planted-target.ts';\nimport '../../../../events/planted-target.ts';",
    targets: ['events/planted-target.ts'],
    rule: 'source-imports-another-source',
  },
  {
    // A type-only import counts as much as a value import.
    file: 'functions/preflight/planted.ts',
    code: "import type * as planted from '../shared/sources/vmware/planted-target.ts';\nexport type P = typeof planted;",
    targets: ['functions/shared/sources/vmware/planted-target.ts'],
    rule: 'source-internals-outside-adapter-map',
  },
  {
    file: 'functions/shared/planted-to-test.ts',
    code: "import '../../test/support/planted-target.ts';",
    targets: ['test/support/planted-target.ts'],
    rule: 'product-imports-tests-or-tools',
  },
  {
    file: 'events/planted.ts',
    code: "import '../local-cluster/planted-target.ts';",
    targets: ['local-cluster/planted-target.ts'],
    rule: 'product-imports-tests-or-tools',
  },
  {
    file: 'bench/lib/planted.ts',
    code: "import '../../test/unit/planted-target.ts';",
    targets: ['test/unit/planted-target.ts'],
    rule: 'tools-import-tests',
  },
  {
    file: 'bench/lib/planted-support.ts',
    code: "import '../../test/support/planted-target.ts';",
    targets: ['test/support/planted-target.ts'],
    rule: 'tools-import-tests',
  },
  {
    file: 'local-cluster/runtime/planted.ts',
    code: "import '../../test/support/planted-target.ts';",
    targets: ['test/support/planted-target.ts'],
    rule: 'tools-import-tests',
  },
  {
    file: 'local-cluster/planted-bench.ts',
    code: "import '../bench/lib/planted-target.ts';",
    targets: ['bench/lib/planted-target.ts'],
    rule: 'local-cluster-imports-bench',
  },
  {
    // The simulators are shared by the bench, the tests and the local cluster.
    file: 'bench/lib/planted-stand-in.ts',
    code: "import '../../local-cluster/simulators/planted-target.ts';",
    targets: ['local-cluster/simulators/planted-target.ts'],
    rule: undefined,
  },
  {
    file: 'bench/test/unit/planted.ts',
    code: "import '../../lib/planted-target.ts';",
    targets: ['bench/lib/planted-target.ts'],
    rule: undefined,
  },
  {
    file: 'test/unit/planted.ts',
    code: "import '../../bench/planted-target.ts';",
    targets: ['bench/planted-target.ts'],
    rule: 'tests-import-bench',
  },
  {
    file: 'test/unit/planted-lib.ts',
    code: "import '../../bench/lib/planted-target.ts';",
    targets: ['bench/lib/planted-target.ts'],
    rule: 'tests-import-bench',
  },
  {
    file: 'test/unit/planted-stand-in.ts',
    code: "import '../../local-cluster/simulators/planted-target.ts';",
    targets: ['local-cluster/simulators/planted-target.ts'],
    rule: undefined,
  },
  {
    file: 'config/planted.ts',
    code: "import './no-such-module.ts';",
    rule: 'unresolvable-import',
  },
];

interface Violation {
  from: string;
  to: string;
  rule: string;
}

async function copyTree(to: string) {
  for (const name of ['.dependency-cruiser.js', 'tsconfig.json', 'package.json', 'build.ts'])
    await cp(join(root, name), join(to, name));
  await symlink(join(root, 'node_modules'), join(to, 'node_modules'));
  for (const tree of TREES)
    await cp(join(root, tree), join(to, tree), {
      recursive: true,
      filter: (src) => !SKIP.test(relative(root, src)),
    });
}

/** Runs the command line of `npm run lint:deps` in `dir`; returns its exit code and the violations it prints. */
async function lintDeps(dir: string) {
  const scripts = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')).scripts;
  const [bin, ...args] = (scripts['lint:deps'] as string).split(' ');
  assert.equal(bin, 'depcruise');
  const run = await execa(join(root, 'node_modules/.bin/depcruise'), args, {
    cwd: dir,
    reject: false,
    all: true,
  });
  const violations: Violation[] = [];
  for (const line of run.all.split('\n')) {
    const m = /^\s*error ([\w-]+): (\S+) → (\S+)/.exec(line);
    if (m) violations.push({ rule: m[1]!, from: m[2]!, to: m[3]! });
  }
  return { exitCode: run.exitCode, violations, output: run.all };
}

test('lint:deps rejects each planted forbidden import, names its rule, and lets the allowed ones pass', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'vm-import-boundaries-'));
  try {
    await copyTree(dir);
    for (const plant of PLANTS) {
      for (const file of [plant.file, ...(plant.targets ?? [])]) {
        await mkdir(dirname(join(dir, file)), { recursive: true });
        await writeFile(join(dir, file), file === plant.file ? `${plant.code}\n` : 'export {};\n');
      }
    }
    const { exitCode, violations, output } = await lintDeps(dir);
    assert.notEqual(exitCode, 0, `lint:deps must fail:\n${output}`);
    const planted = new Set(PLANTS.map((p) => p.file));
    const found = violations
      .filter((v) => planted.has(v.from))
      .map((v) => `${v.from} ${v.rule}`)
      .sort();
    const expected = PLANTS.filter((p) => p.rule)
      .map((p) => `${p.file} ${p.rule}`)
      .sort();
    assert.deepEqual(found, expected);
    // Nothing but the plants: the real tree keeps the rules.
    assert.deepEqual(
      violations.filter((v) => !planted.has(v.from)).map((v) => `${v.from} → ${v.to} ${v.rule}`),
      [],
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
