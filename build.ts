// `npm run build`: the JavaScript the image ships, in dist/ — the functions' server, the export
// Job and the disk server, each bundled with its dependencies by esbuild (ESM, code-split: a
// function's pod loads only that function's chunks). Plain `node` runs it; nothing transpiles at
// run time. dist/build-info.json records a hash of every input, so a stale build is detected
// (ensureBuilt) instead of silently running old code.
//   node --import tsx build.ts [--if-stale]
import * as esbuild from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { IMAGE_PROGRAMS } from './functions/shared/image-programs.ts';

export const PROJECT_ROOT = import.meta.dirname;
export const DIST_DIR = 'dist';
const BUILD_INFO = 'build-info.json';

/** The programs of the image (functions/shared/image-programs.ts names where each is built). */
export const ENTRY_POINTS = Object.values(IMAGE_PROGRAMS).map((p) => p.source);
for (const p of Object.values(IMAGE_PROGRAMS))
  if (p.built !== `${DIST_DIR}/${p.source.replace(/\.ts$/, '.mjs')}`)
    throw new Error(`${p.source} is built to ${DIST_DIR}/<same path>.mjs, not ${p.built}`);

/**
 * Files a module reads beside itself (`new URL('./file', import.meta.url)`): copied next to
 * every output that holds the module, since bundling moves the module's code there.
 */
const ASSETS = [
  {
    module: 'functions/shared/sources/vmware/session.ts',
    file: 'functions/shared/sources/vmware/vim25-subset.wsdl',
  },
];

/**
 * Dependencies whose CommonJS relies on sloppy mode, which an ES module bundle (always strict)
 * does not have: the one statement is rewritten to declare what it assigns. The build fails when
 * the statement is no longer there (a new version: check it again).
 */
const STRICT_MODE_FIXES = [
  {
    // faas-js-runtime 4 assigns the undeclared `osu` (ReferenceError in strict mode).
    file: 'node_modules/faas-js-runtime/lib/metrics.js',
    from: "const { cpu, mem, netstat } = osu = require('node-os-utils');",
    to: "const osu = require('node-os-utils'); const { cpu, mem, netstat } = osu;",
  },
];

const strictModeFixes: esbuild.Plugin = {
  name: 'strict-mode-fixes',
  setup(build) {
    for (const fix of STRICT_MODE_FIXES) {
      const path = join(PROJECT_ROOT, fix.file);
      build.onLoad({ filter: new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`) }, async () => {
        const source = await readFile(path, 'utf8');
        if (!source.includes(fix.from))
          throw new Error(
            `${fix.file}: the statement the build rewrites is gone (${fix.from}); check the new version`,
          );
        return { contents: source.replace(fix.from, fix.to), loader: 'js' };
      });
    }
  },
};

const CLIENT_NODE_DIR = `${join(PROJECT_ROOT, 'node_modules', '@kubernetes', 'client-node')}/`;
const SOAP_DIR = `${join(PROJECT_ROOT, 'node_modules', 'soap')}/`;
const FORM_DATA_DIR = `${join(PROJECT_ROOT, 'node_modules', 'form-data')}/`;
const RAW_BODY_DIR = `${join(PROJECT_ROOT, 'node_modules', 'raw-body')}/`;

/**
 * client-node's index re-exports every part of the client (exec, attach, port-forward, cp, top,
 * metrics, informers, ~70 generated API groups): its modules are marked free of side effects, so
 * the bundle keeps only the ones whose exports are used. The one module imported for its side
 * effects (polyfill.js) stays.
 */
const clientNodeTreeShaking: esbuild.Plugin = {
  name: 'client-node-tree-shaking',
  setup(build) {
    build.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData === 'client-node-tree-shaking') return undefined;
      if (!args.importer.startsWith(CLIENT_NODE_DIR) && !args.path.startsWith('@kubernetes/client-node'))
        return undefined;
      const resolved = await build.resolve(args.path, {
        kind: args.kind,
        importer: args.importer,
        resolveDir: args.resolveDir,
        pluginData: 'client-node-tree-shaking',
      });
      if (resolved.errors.length > 0 || !resolved.path.startsWith(CLIENT_NODE_DIR)) return resolved;
      return resolved.path.endsWith('/polyfill.js') ? resolved : { ...resolved, sideEffects: false };
    });
  },
};

/** What a lazy stand-in exports: classes, plain functions and objects of functions (statics). */
interface LazyExports {
  classes?: string[];
  functions?: string[];
  statics?: Record<string, string[]>;
}

/**
 * Packages a dependency imports at load but uses only for an option we never set: its imports of
 * them get a stand-in whose members load the real package on first use. The packages stay in the
 * bundle, so the option works as before; a process that does not use it never runs their code.
 * - client-node's config.js: its proxy agents (SOCKS, HTTP(S) CONNECT), used only when the
 *   kubeconfig names a proxy-url (an in-cluster config never does);
 * - node-soap: xml-crypto (with xpath and xmldom) for WSSecurityCert signing, and axios-ntlm for
 *   NTLM authentication; vSphere takes a session cookie (vmware/session.ts);
 * - form-data (axios's multipart bodies): mime-types, whose database (mime-db, ~2,500 types) is
 *   parsed at load, for the type of an appended file; we never send multipart;
 * - raw-body (faas-js-runtime's body reader): iconv-lite, for a body in a charset other than
 *   UTF-8; CloudEvents are JSON in UTF-8.
 */
const LAZY_DEPENDENCIES: ReadonlyArray<{ importer: string; packages: Record<string, LazyExports> }> = [
  {
    importer: CLIENT_NODE_DIR,
    packages: {
      'socks-proxy-agent': { classes: ['SocksProxyAgent'] },
      socks: { statics: { SocksClient: ['createConnection'] } },
      hpagent: { classes: ['HttpProxyAgent', 'HttpsProxyAgent'] },
    },
  },
  {
    importer: SOAP_DIR,
    packages: {
      'xml-crypto': { classes: ['SignedXml'] },
      'axios-ntlm': { functions: ['NtlmClient'] },
    },
  },
  { importer: FORM_DATA_DIR, packages: { 'mime-types': { functions: ['lookup'] } } },
  { importer: RAW_BODY_DIR, packages: { 'iconv-lite': { functions: ['getDecoder'] } } },
];

function lazyStandIn(name: string, lazy: LazyExports): string {
  const load = `require(${JSON.stringify(name)})`;
  return [
    ...(lazy.classes ?? []).map(
      (c) => `export class ${c} { constructor(...args) { return new (${load}.${c})(...args); } }`,
    ),
    ...(lazy.functions ?? []).map((f) => `export function ${f}(...args) { return ${load}.${f}(...args); }`),
    ...Object.entries(lazy.statics ?? {}).map(
      ([obj, fns]) =>
        `export const ${obj} = { ${fns.map((f) => `${f}: (...args) => ${load}.${obj}.${f}(...args)`).join(', ')} };`,
    ),
  ].join('\n');
}

const lazyDependencies: esbuild.Plugin = {
  name: 'lazy-dependencies',
  setup(build) {
    for (const [index, { importer, packages }] of LAZY_DEPENDENCIES.entries()) {
      const names = Object.keys(packages).map((n) => n.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&'));
      build.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) =>
        args.importer.startsWith(importer)
          ? { path: args.path, namespace: 'lazy-dependencies', pluginData: { index, dir: args.resolveDir } }
          : undefined,
      );
    }
    build.onLoad({ filter: /.*/, namespace: 'lazy-dependencies' }, (args) => {
      const { index, dir } = args.pluginData as { index: number; dir: string };
      return {
        contents: lazyStandIn(args.path, LAZY_DEPENDENCIES[index]!.packages[args.path]!),
        loader: 'js',
        resolveDir: dir,
      };
    });
  },
};

/**
 * axios has a CommonJS build (for `require`, as node-soap and axios-ntlm load it) and an ES module
 * (for `import`, as our code loads it): bundled as Node resolves them, a process that talks SOAP
 * would load both, and their error classes would differ. Every `require('axios')` gets the module
 * our code imports.
 */
const oneAxios: esbuild.Plugin = {
  name: 'one-axios',
  setup(build) {
    build.onResolve({ filter: /^axios$/ }, (args) =>
      args.kind === 'require-call' && args.pluginData !== 'one-axios'
        ? build.resolve(args.path, {
            kind: 'import-statement',
            importer: args.importer,
            resolveDir: args.resolveDir,
            pluginData: 'one-axios',
          })
        : undefined,
    );
  },
};

/**
 * The bundles are ESM; CommonJS dependencies bundled into them call require() for Node's
 * built-ins, which ESM does not define.
 */
const REQUIRE_SHIM =
  "import { createRequire as __vmImportCreateRequire } from 'node:module'; const require = __vmImportCreateRequire(import.meta.url);";

export function esbuildOptions(entryPoints: readonly string[], outdir: string): esbuild.BuildOptions {
  return {
    absWorkingDir: PROJECT_ROOT,
    entryPoints: [...entryPoints],
    outbase: '.',
    outdir,
    entryNames: '[dir]/[name]',
    chunkNames: 'chunks/[name]-[hash]',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    // Identifiers are kept: error names and stack traces stay readable in the logs.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    banner: { js: REQUIRE_SHIM },
    plugins: [strictModeFixes, clientNodeTreeShaking, lazyDependencies, oneAxios],
    metafile: true,
    write: false,
    logLevel: 'warning',
  };
}

interface BuildInfo {
  esbuild: string;
  /** Input file (relative to the project) → sha256 of its content. */
  inputs: Record<string, string>;
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function hashInputs(files: string[]): Promise<Record<string, string>> {
  const inputs: Record<string, string> = {};
  for (const f of [...files].sort()) inputs[f] = sha256(await readFile(join(PROJECT_ROOT, f)));
  return inputs;
}

/** Writes `data` to `path` unless it already holds it; through a rename, so no reader sees half a file. */
async function writeAtomically(path: string, data: Uint8Array): Promise<void> {
  const old = await readFile(path).catch(() => undefined);
  if (old && Buffer.compare(old, data) === 0) return;
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** Bundles `entryPoints` into `outdir` (absolute), removing what an earlier build left there. */
export async function bundle(entryPoints: readonly string[], outdir: string): Promise<BuildInfo> {
  const result = await esbuild.build(esbuildOptions(entryPoints, outdir));
  const written = new Set<string>();
  for (const out of result.outputFiles ?? []) {
    await writeAtomically(out.path, out.contents);
    written.add(out.path);
  }
  for (const asset of ASSETS) {
    for (const [out, meta] of Object.entries(result.metafile!.outputs)) {
      if (!meta.inputs[asset.module]) continue;
      const target = join(PROJECT_ROOT, dirname(out), asset.file.split('/').pop()!);
      await writeAtomically(target, await readFile(join(PROJECT_ROOT, asset.file)));
      written.add(target);
    }
  }
  const info: BuildInfo = {
    esbuild: esbuild.version,
    inputs: await hashInputs([
      // Modules a plugin makes (`namespace:name`) derive from build.ts, which is hashed.
      ...Object.keys(result.metafile!.inputs).filter((f) => !/^[a-z-]+:/.test(f)),
      ...ASSETS.map((a) => a.file),
      relative(PROJECT_ROOT, import.meta.filename),
    ]),
  };
  const infoPath = join(outdir, BUILD_INFO);
  await writeAtomically(infoPath, Buffer.from(JSON.stringify(info, null, 1)));
  written.add(infoPath);
  for (const f of await filesUnder(outdir)) if (!written.has(f) && !f.endsWith('.tmp')) await rm(f);
  return info;
}

/** Whether `outdir` holds a build of exactly the current inputs. */
export async function isFresh(outdir: string): Promise<boolean> {
  const info = JSON.parse(
    await readFile(join(outdir, BUILD_INFO), 'utf8').catch(() => 'null'),
  ) as BuildInfo | null;
  if (!info || info.esbuild !== esbuild.version) return false;
  try {
    const now = await hashInputs(Object.keys(info.inputs));
    return Object.entries(info.inputs).every(([f, h]) => now[f] === h);
  } catch {
    return false; // an input is gone
  }
}

/**
 * One build at a time per output directory, across processes (test files start clusters in
 * parallel): a lock directory, taken over when its holder has been gone for a minute.
 */
async function withLock<T>(outdir: string, fn: () => Promise<T>): Promise<T> {
  const lock = `${outdir}.lock`;
  await mkdir(dirname(lock), { recursive: true });
  for (;;) {
    try {
      await mkdir(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const age =
        Date.now() -
        (await stat(lock).then(
          (s) => s.mtimeMs,
          () => Date.now(),
        ));
      if (age > 60_000) await rm(lock, { recursive: true, force: true });
      else await new Promise((r) => setTimeout(r, 200));
    }
  }
  try {
    return await fn();
  } finally {
    await rm(lock, { recursive: true, force: true });
  }
}

/** Builds `entryPoints` into `outdir` unless it already holds a build of the current sources. */
export async function ensureBuilt(
  entryPoints: readonly string[] = ENTRY_POINTS,
  outdir: string = join(PROJECT_ROOT, DIST_DIR),
): Promise<'fresh' | 'built'> {
  if (await isFresh(outdir)) return 'fresh';
  return withLock(outdir, async () => {
    if (await isFresh(outdir)) return 'fresh';
    await bundle(entryPoints, outdir);
    return 'built';
  });
}

/** Whether the image's build is there at all (the local cluster's image table checks it). */
export const hasBuild = (projectRoot: string): boolean => existsSync(join(projectRoot, DIST_DIR, BUILD_INFO));

if (import.meta.filename === process.argv[1]) {
  const started = Date.now();
  const outcome = process.argv.includes('--if-stale')
    ? await ensureBuilt()
    : await withLock(join(PROJECT_ROOT, DIST_DIR), () =>
        bundle(ENTRY_POINTS, join(PROJECT_ROOT, DIST_DIR)),
      ).then(() => 'built' as const);
  console.error(`[build] ${DIST_DIR}/ ${outcome} in ${Date.now() - started} ms`);
}
