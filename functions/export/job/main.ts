// Entry point of the export Job (`node dist/functions/export/job/main.mjs`, its build). Exit codes:
// 0 = result recorded in the import's status (exported or failed) or nothing to do; non-zero =
// unexpected error, the Job's backoff runs it again (the export starts over cleanly).
import { Kube } from '../../shared/kube/client.ts';
import { createLogger } from '../../shared/log.ts';
import { closeLoadedAdapters } from '../../shared/sources/adapters.ts';
import { exporterConfigFromEnv, runExporter } from './exporter.ts';

const log = createLogger({
  component: 'exporter',
  import: `${process.env.IMPORT_NAMESPACE}/${process.env.IMPORT_NAME}`,
});
const abort = new AbortController();
for (const sig of ['SIGTERM', 'SIGINT'] as const)
  process.once(sig, () => {
    log.warn('signal received; aborting the export', { signal: sig });
    abort.abort(new Error(`received ${sig}`));
  });

let code = 0;
try {
  const outcome = await runExporter(new Kube(), exporterConfigFromEnv(process.env), log, abort.signal);
  log.info('exporter finished', { outcome });
} catch (e) {
  code = abort.signal.aborted ? 143 : 1;
  log.error(abort.signal.aborted ? 'export aborted' : 'exporter failed', { error: e });
} finally {
  await closeLoadedAdapters().catch(() => undefined);
}
process.exit(code);
