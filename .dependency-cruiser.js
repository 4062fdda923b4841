// Module boundaries, checked by `npm run lint` (depcruise). Paths are relative to the repository.
// test/unit/module-boundaries.test.ts plants a forbidden import for each rule and expects it to fail.

/** Product code: what is built into the image and deployed. */
const PRODUCT = '^(functions|events|config)/';

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    {
      name: 'function-imports-another-function',
      comment:
        'A function imports only its own folder and functions/shared/ (shared code moves there), ' +
        'so each function can change without breaking another.',
      severity: 'error',
      from: { path: '^functions/([^/]+)/', pathNot: '^functions/shared/' },
      to: { path: '^functions/[^/]+/', pathNot: ['^functions/shared/', '^functions/$1/'] },
    },
    {
      name: 'source-imports-another-source',
      comment:
        "A source's folder (functions/shared/sources/<source>/) imports only itself and shared code " +
        'outside the source folders.',
      severity: 'error',
      from: { path: '^functions/shared/sources/([^/]+)/' },
      to: {
        path: '^(functions|events|config|bench|test|local-cluster)/',
        pathNot: ['^functions/shared/sources/$1/', '^functions/shared/(?!sources/[^/]+/)'],
      },
    },
    {
      name: 'source-internals-outside-adapter-map',
      comment:
        'Nothing in the product names a source: only the adapter map (functions/shared/sources/adapters.ts) ' +
        "reaches into a source's folder; everything else goes through SourceAdapter.",
      severity: 'error',
      from: {
        path: PRODUCT,
        pathNot: ['^functions/shared/sources/[^/]+/', '^functions/shared/sources/adapters\\.ts$'],
      },
      to: { path: '^functions/shared/sources/[^/]+/' },
    },
    {
      name: 'product-imports-tests-or-tools',
      comment: 'Product code never imports tests, stand-ins, benchmarks or the local cluster.',
      severity: 'error',
      from: { path: PRODUCT },
      to: { path: '^(test|bench|local-cluster)/' },
    },
    {
      name: 'tools-import-tests',
      comment:
        'The local cluster and the benchmark never import tests: what they share with the tests ' +
        '(the simulators, local-cluster/simulators/) lives in local-cluster/.',
      severity: 'error',
      from: { path: '^(bench|local-cluster)/' },
      to: { path: '^test/' },
    },
    {
      name: 'tests-import-bench',
      comment:
        "Tests do not import the benchmark; the tests of the benchmark's own code live with it " +
        '(bench/test/).',
      severity: 'error',
      from: { path: '^test/' },
      to: { path: '^bench/' },
    },
    {
      name: 'local-cluster-imports-bench',
      comment: 'The local cluster does not depend on the benchmark (the benchmark uses the local cluster).',
      severity: 'error',
      from: { path: '^local-cluster/' },
      to: { path: '^bench/' },
    },
    {
      name: 'unresolvable-import',
      comment: 'An import that does not resolve to a file fails at run time.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|\\.local|test/\\.fixtures|bench/work)/' },
    // Type-only imports cross boundaries too.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
