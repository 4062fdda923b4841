// Public API of the OpenStack source client.
import type { ExportOptions, ExportedDisk, SourceVm } from '../types.ts';
import { OpenstackClient, type OpenstackClientOptions } from './client.ts';
import type { OpenstackConnection } from './config.ts';
import { ServerExport, type OpenstackExportSettings } from './export.ts';

export { OpenstackClient, type LogFn, type OpenstackClientOptions } from './client.ts';
export {
  connectionFromSpec,
  credentialsFromSecret,
  type OpenstackConnection,
  type OpenstackCredentials,
} from './config.ts';
export { ServerExport, type OpenstackExportSettings } from './export.ts';

/** Source verification: authenticate, resolve the region's endpoints, list servers. */
export async function verifyOpenstackSource(
  connection: OpenstackConnection,
  options?: OpenstackClientOptions,
): Promise<void> {
  const client = await OpenstackClient.connect(connection, options);
  await client.verify();
}

export async function preflightOpenstackImport(
  connection: OpenstackConnection,
  input: Parameters<OpenstackClient['preflight']>[0],
  options?: OpenstackClientOptions,
): ReturnType<OpenstackClient['preflight']> {
  return (await OpenstackClient.connect(connection, options)).preflight(input);
}

/** The name used for sanitizing: a server UUID resolves to the server's name. */
export async function resolveOpenstackServerName(
  connection: OpenstackConnection,
  nameOrId: string,
  options?: OpenstackClientOptions,
): Promise<string> {
  return (await OpenstackClient.connect(connection, options)).resolveName(nameOrId);
}

export async function stopOpenstackServer(
  connection: OpenstackConnection,
  nameOrId: string,
  options?: OpenstackClientOptions,
): Promise<{ poweredOff: boolean; serverId: string }> {
  return (await OpenstackClient.connect(connection, options)).stopServer(nameOrId);
}

export async function describeOpenstackServer(
  connection: OpenstackConnection,
  nameOrId: string,
  options?: OpenstackClientOptions,
): Promise<SourceVm> {
  return (await OpenstackClient.connect(connection, options)).describeServer(nameOrId);
}

export async function exportOpenstackServer(
  connection: OpenstackConnection,
  nameOrId: string,
  opts: ExportOptions,
  settings: OpenstackExportSettings = {},
  options?: OpenstackClientOptions,
): Promise<ExportedDisk[]> {
  const client = await OpenstackClient.connect(connection, options);
  return new ServerExport(client, settings).run(nameOrId, opts);
}
