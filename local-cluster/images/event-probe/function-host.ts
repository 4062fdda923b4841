// Serves one function module with faas-js-runtime, as the Knative Service's container does:
//   node --import tsx function-host.ts <path/to/index.ts>   (the event-probe image's command)
// The module exports `handle(context, cloudevent)` (and optionally init/shutdown/liveness/
// readiness); the port comes from $PORT (Knative sets 8080).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
// faas-js-runtime is CommonJS: its named exports are reached through the default import.
import faas, { type Function as FaasFunction } from 'faas-js-runtime';

const modulePath = process.argv[2];
if (!modulePath) {
  console.error('usage: function-host.ts <module>');
  process.exit(2);
}
const mod = (await import(pathToFileURL(resolve(modulePath)).href)) as Partial<FaasFunction> & {
  default?: Partial<FaasFunction>;
};
const fn = mod.handle ? mod : mod.default;
if (!fn?.handle) {
  console.error(`${modulePath} does not export handle()`);
  process.exit(2);
}
const server = await faas.start(fn as FaasFunction, { port: Number(process.env.PORT ?? 8080) });
const shutdown = () => server.close(() => process.exit(0));
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
