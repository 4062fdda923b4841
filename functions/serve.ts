// Serves one function with faas-js-runtime: `node --import tsx functions/serve.ts <name>`.
// The same command runs in the container (Knative Service) and on the local cluster.
// faas-js-runtime is CommonJS: its named exports are only reachable through the default import.
import faas from 'faas-js-runtime';
import { FUNCTION_NAMES, type FunctionName } from '../events/routing.ts';
import type { FunctionHandler } from './shared/function-handler.ts';

const name = (process.argv[2] ?? process.env.FUNCTION_NAME) as FunctionName;
if (!FUNCTION_NAMES.includes(name)) {
  console.error(`usage: serve.ts <function>; one of ${FUNCTION_NAMES.join(', ')}`);
  process.exit(2);
}
process.env.FUNCTION_NAME = name;
const module = (await import(`./${name}/index.ts`)) as { handle: FunctionHandler };
await faas.start(module.handle, { port: Number(process.env.PORT ?? 8080), logLevel: 'warn' as never });
