// Serves one function with faas-js-runtime: `node dist/functions/serve.mjs <name>` (the build of
// this file; `npm run build`). The same command runs in the container (Knative Service) and on the
// local cluster. Only the named function's code is loaded: each is its own chunk of the build.
// faas-js-runtime is CommonJS: its named exports are only reachable through the default import.
import faas from 'faas-js-runtime';
import type { FunctionName } from '../events/routing.ts';
import type { FunctionHandler } from './shared/function-handler.ts';
import { HEALTH_CHECKS } from './shared/health-checks.ts';

type FunctionModule = { handle: FunctionHandler };

/** One static import per function, so that the bundler makes each its own lazily loaded chunk. */
const FUNCTION_MODULES: Record<FunctionName, () => Promise<FunctionModule>> = {
  preflight: () => import('./preflight/index.ts'),
  sanitize: () => import('./sanitize/index.ts'),
  export: () => import('./export/index.ts'),
  'export-status': () => import('./export-status/index.ts'),
  images: () => import('./images/index.ts'),
  'image-status': () => import('./image-status/index.ts'),
  vm: () => import('./vm/index.ts'),
  'vm-status': () => import('./vm-status/index.ts'),
  cleanup: () => import('./cleanup/index.ts'),
  resync: () => import('./resync/index.ts'),
  'verify-source': () => import('./verify-source/index.ts'),
  'dead-letter': () => import('./dead-letter/index.ts'),
};

// The names come from the map, not the routing table: serving one function loads nothing else.
const names = Object.keys(FUNCTION_MODULES) as FunctionName[];
const name = (process.argv[2] ?? process.env.FUNCTION_NAME) as FunctionName;
if (!names.includes(name)) {
  console.error(`usage: serve.mjs <function>; one of ${names.join(', ')}`);
  process.exit(2);
}
process.env.FUNCTION_NAME = name;
const module = await FUNCTION_MODULES[name]();
await faas.start(
  { handle: module.handle, ...HEALTH_CHECKS },
  { port: Number(process.env.PORT ?? 8080), logLevel: 'warn' as never },
);
