// CLI: node --import tsx local-cluster/apiserver/main.ts --data-dir DIR [--port N] [--host H] [--verbose]
// Prints one JSON line {"url":...,"kubeconfig":...} when ready; stops on SIGINT/SIGTERM.
import { parseArgs } from 'node:util';
import { startApiServer } from './index.ts';

const { values } = parseArgs({
  options: {
    'data-dir': { type: 'string', default: '.local/apiserver' },
    port: { type: 'string', default: '0' },
    host: { type: 'string', default: '127.0.0.1' },
    verbose: { type: 'boolean', default: false },
  },
});

const server = await startApiServer({
  dataDir: values['data-dir'],
  port: Number(values.port),
  host: values.host,
  ...(values.verbose ? { log: (line: string) => process.stderr.write(`${line}\n`) } : {}),
});
process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfig: server.kubeconfigPath })}\n`);

const stop = (): void => {
  void server.close().then(() => process.exit(0));
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
