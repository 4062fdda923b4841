// Verify an OpenstackSource (authenticate, resolve the region's endpoints, list servers) and
// preflight an import of one of its servers.
import { SourceError } from '../source-error.ts';
import { expectOk, OpenstackClient, type OpenstackClientOptions } from './client.ts';
import type { OpenstackConnection } from './connection.ts';
import { attachedVolumeIds, isImageBooted } from './server-model.ts';

/** Proves the credentials can use Compute in the region: lists (at most one) server. */
export async function verifyOpenstackSource(
  connection: OpenstackConnection,
  options?: OpenstackClientOptions,
): Promise<void> {
  const client = await OpenstackClient.connect(connection, options);
  const res = await client.session.call('compute', '/servers?limit=1', {
    method: 'GET',
    what: 'listing servers',
  });
  expectOk(res, 'Listing servers');
}

export interface OpenstackPreflightInput {
  virtualMachineName: string;
  networkMapping?: Array<{ sourceNetwork?: string | null }> | null;
  forcePowerOff?: boolean | null;
}

/**
 * The server exists (unique by name), every mapped source network exists, and the server has a
 * disk we can export (volumes, or an image-booted root disk).
 */
export async function preflightOpenstackServer(
  client: OpenstackClient,
  input: OpenstackPreflightInput,
): Promise<{ server: { id: string; name: string }; warnings: string[] }> {
  const warnings: string[] = [];
  if (input.forcePowerOff)
    warnings.push('A forced power off is not supported by OpenStack; the server is stopped with os-stop.');
  const server = await client.findServer(input.virtualMachineName);
  for (const m of input.networkMapping ?? []) {
    if (!m.sourceNetwork) continue;
    const res = await client.session.call<{ networks?: unknown[] }>(
      'network',
      `/networks?name=${encodeURIComponent(m.sourceNetwork)}`,
      { method: 'GET', what: `looking up network "${m.sourceNetwork}"` },
    );
    expectOk(res, `Looking up network "${m.sourceNetwork}"`);
    if (!res.data.networks?.length)
      throw new SourceError(
        'NetworkNotFound',
        `Source network "${m.sourceNetwork}" does not exist in OpenStack.`,
      );
  }
  if (!isImageBooted(server) && attachedVolumeIds(server).length === 0)
    throw new SourceError(
      'NoDisks',
      `Server ${server.id} has neither a root image disk nor attached volumes.`,
    );
  if (server.status === 'ERROR')
    throw new SourceError(
      'ServerInError',
      `Server ${server.id} is in status ERROR; repair it before importing.`,
    );
  return { server: { id: server.id, name: server.name }, warnings };
}
