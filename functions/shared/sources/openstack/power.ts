// Server power through Nova's os-stop / os-start actions (asynchronous: the server's status
// tells when they took effect). OpenStack cannot force a power-off.
import { setTimeout as sleep } from 'node:timers/promises';
import type { ConditionInput } from '../../condition-list.ts';
import type { PowerOffDeps, PowerOnResult } from '../adapter.ts';
import { PowerCondition } from '../power-conditions.ts';
import { SourceError } from '../source-error.ts';
import type { OpenstackClient } from './client.ts';
import { httpError } from './http.ts';

/**
 * Asks Nova to stop the server unless it is already SHUTOFF. Returns whether it is SHUTOFF
 * now; the caller polls `isPoweredOff` (os-stop is asynchronous).
 */
export async function stopServer(
  client: OpenstackClient,
  nameOrId: string,
): Promise<{ poweredOff: boolean; serverId: string }> {
  const server = await client.findServer(nameOrId);
  if (server.status === 'SHUTOFF') return { poweredOff: true, serverId: server.id };
  if (server['OS-EXT-STS:task_state'] === 'powering-off') return { poweredOff: false, serverId: server.id };
  const res = await client.session.call('compute', `/servers/${server.id}/action`, {
    method: 'POST',
    data: { 'os-stop': null },
    headers: { 'Content-Type': 'application/json' },
    what: `stopping server ${server.id}`,
  });
  // 409: already stopping (or stopped meanwhile); the next poll tells.
  if (res.status !== 202 && res.status !== 409)
    throw httpError(res.status, res.data, `Stopping server ${server.id}`);
  client.log({ level: 'info', msg: 'requested os-stop', server: server.id });
  return { poweredOff: false, serverId: server.id };
}

export async function isPoweredOff(client: OpenstackClient, nameOrId: string): Promise<boolean> {
  return (await client.findServer(nameOrId)).status === 'SHUTOFF';
}

export const stopRequested = (server: string): ConditionInput => ({
  type: PowerCondition.ShutdownGuest,
  status: 'True',
  reason: 'StopRequested',
  message: `asked OpenStack to stop server ${server} (os-stop)`,
});
export const poweredOff = (server: string): ConditionInput => ({
  type: PowerCondition.PoweredOff,
  status: 'True',
  reason: 'PoweredOff',
  message: `server ${server} is SHUTOFF`,
});

/** os-stop, then poll with backoff until SHUTOFF, bounded by `timeoutMs`. */
export async function powerOffServer(
  client: OpenstackClient,
  nameOrId: string,
  deps: PowerOffDeps,
  timeoutMs: number,
): Promise<void> {
  if (deps.conditions.VMPoweredOff) return;
  const first = await stopServer(client, nameOrId);
  if (!first.poweredOff && !deps.conditions.VMShutdownGuest) await deps.record(stopRequested(first.serverId));
  const deadline = Date.now() + timeoutMs;
  let delayMs = 1000;
  let off = first.poweredOff;
  while (!off) {
    if (Date.now() > deadline)
      throw new SourceError(
        'PowerOffTimeout',
        `server ${first.serverId} did not reach SHUTOFF within ${Math.round(timeoutMs / 1000)} s after os-stop (OPENSTACK_STOP_TIMEOUT_SECONDS); stop it in OpenStack and re-create the import`,
      );
    await sleep(delayMs, undefined, { signal: deps.signal });
    delayMs = Math.min(delayMs * 2, 15_000);
    off = await isPoweredOff(client, first.serverId);
  }
  await deps.record(poweredOff(first.serverId));
}

/** os-start unless the server is ACTIVE (or already starting); Nova starts it asynchronously. */
export async function startServer(client: OpenstackClient, nameOrId: string): Promise<PowerOnResult> {
  const server = await client.findServer(nameOrId);
  if (server.status === 'ACTIVE') return { state: 'on', message: `server ${server.id} is ACTIVE` };
  const requested: PowerOnResult = {
    state: 'requested',
    message: `asked OpenStack to start server ${server.id} (os-start)`,
  };
  if (server['OS-EXT-STS:task_state'] === 'powering-on') return requested;
  const res = await client.session.call('compute', `/servers/${server.id}/action`, {
    method: 'POST',
    data: { 'os-start': null },
    headers: { 'Content-Type': 'application/json' },
    what: `starting server ${server.id}`,
  });
  if (res.status === 409) {
    // Nova refuses os-start unless the server is stopped: it may have become ACTIVE meanwhile.
    const now = await client.findServer(server.id);
    if (now.status === 'ACTIVE') return { state: 'on', message: `server ${server.id} is ACTIVE` };
    if (now['OS-EXT-STS:task_state'] === 'powering-on') return requested;
  }
  if (res.status !== 202) throw httpError(res.status, res.data, `Starting server ${server.id}`);
  client.log({ level: 'info', msg: 'requested os-start', server: server.id });
  return requested;
}
