// OpenStack API client: one authenticated session, server lookup and the reads of a server's
// flavor, volumes, image and ports. verify.ts, describe.ts, power.ts and export.ts use it.
import type { AxiosResponse } from 'axios';
import { SourceError } from '../source-error.ts';
import type { SourceNic } from '../types.ts';
import type { OpenstackConnection } from './connection.ts';
import { httpError } from './http.ts';
import {
  attachedVolumeIds,
  exactNameRegex,
  flavorFigures,
  isUuid,
  nicsInPortOrder,
  pickServerByName,
  volumesInBootOrder,
  type CinderVolume,
  type InterfaceAttachment,
  type NovaServer,
} from './server-model.ts';
import { OpenstackSession, type SessionOptions } from './session.ts';

export type LogFn = (entry: { level: 'info' | 'warn' | 'error'; msg: string; [k: string]: unknown }) => void;

export const defaultLog: LogFn = (entry) =>
  process.stderr.write(`${JSON.stringify({ source: 'openstack', ...entry })}\n`);

export interface OpenstackClientOptions extends SessionOptions {
  log?: LogFn;
}

export function expectOk(res: AxiosResponse, what: string, ok: number[] = [200]): void {
  if (!ok.includes(res.status)) throw httpError(res.status, res.data, what);
}

export class OpenstackClient {
  readonly session: OpenstackSession;
  readonly log: LogFn;

  private constructor(connection: OpenstackConnection, options: OpenstackClientOptions) {
    this.session = new OpenstackSession(connection, options);
    this.log = options.log ?? defaultLog;
  }

  /** Authenticates, checks the region's catalog and negotiates the Compute microversion. */
  static async connect(
    connection: OpenstackConnection,
    options: OpenstackClientOptions = {},
  ): Promise<OpenstackClient> {
    const client = new OpenstackClient(connection, options);
    await client.session.authenticate();
    for (const service of ['compute', 'volume', 'image', 'network'] as const)
      client.session.endpoint(service);
    await client.session.negotiateCompute();
    return client;
  }

  async getServer(id: string): Promise<NovaServer | undefined> {
    const res = await this.session.call<{ server: NovaServer }>(
      'compute',
      `/servers/${encodeURIComponent(id)}`,
      {
        method: 'GET',
        what: `reading server ${id}`,
      },
    );
    if (res.status === 404) return undefined;
    expectOk(res, `Reading server ${id}`);
    const server = (res.data as { server?: unknown } | undefined)?.server as NovaServer | undefined;
    if (typeof server !== 'object' || server === null || typeof server.id !== 'string')
      throw new SourceError(
        'OpenstackRequestFailed',
        `Nova answered the read of server ${id} without a server.`,
      );
    return server;
  }

  /** A server by UUID or exact name (ServerNotFound / ServerNameNotUnique otherwise). */
  async findServer(nameOrId: string): Promise<NovaServer> {
    if (isUuid(nameOrId)) {
      const server = await this.getServer(nameOrId);
      if (server) return server;
    }
    const res = await this.session.call<{ servers?: NovaServer[] }>(
      'compute',
      `/servers/detail?name=${encodeURIComponent(exactNameRegex(nameOrId))}`,
      { method: 'GET', what: `looking up server "${nameOrId}"` },
    );
    expectOk(res, `Looking up server "${nameOrId}"`);
    const list = (res.data as { servers?: unknown } | undefined)?.servers;
    if (!Array.isArray(list))
      throw new SourceError(
        'OpenstackRequestFailed',
        `Nova answered the lookup of server "${nameOrId}" without a server list.`,
      );
    const servers = (list as NovaServer[]).filter(
      (s) => typeof s?.id === 'string' && typeof s?.name === 'string',
    );
    return pickServerByName(nameOrId, servers);
  }

  /** Name for sanitizing: a UUID resolves to the server's name; a name stays as written. */
  async resolveName(nameOrId: string): Promise<string> {
    return (await this.findServer(nameOrId)).name;
  }

  async networkNames(ids?: string[]): Promise<Map<string, string>> {
    const query = ids?.length ? `?${ids.map((id) => `id=${encodeURIComponent(id)}`).join('&')}` : '';
    const res = await this.session.call<{ networks?: Array<{ id?: string; name?: string }> }>(
      'network',
      `/networks${query}`,
      { method: 'GET', what: 'listing networks' },
    );
    expectOk(res, 'Listing networks');
    const map = new Map<string, string>();
    for (const n of res.data.networks ?? []) if (n.id && typeof n.name === 'string') map.set(n.id, n.name);
    return map;
  }

  async getVolume(id: string): Promise<CinderVolume | undefined> {
    const res = await this.session.call<{ volume: CinderVolume }>('volume', `/volumes/${id}`, {
      method: 'GET',
      what: `reading volume ${id}`,
    });
    if (res.status === 404) return undefined;
    expectOk(res, `Reading volume ${id}`);
    return res.data.volume;
  }

  /** The server's attached volumes in boot order. */
  async volumesOf(server: NovaServer): Promise<CinderVolume[]> {
    const volumes: CinderVolume[] = [];
    for (const id of attachedVolumeIds(server)) {
      const v = await this.getVolume(id);
      if (!v)
        throw new SourceError(
          'VolumeNotFound',
          `Volume ${id} attached to server ${server.id} does not exist.`,
        );
      volumes.push(v);
    }
    return volumesInBootOrder(server, volumes);
  }

  async flavorOf(server: NovaServer): Promise<{ vcpus: number; ram: number; disk: number }> {
    const embedded = flavorFigures(server.flavor);
    if (embedded) return embedded;
    const id = server.flavor?.id;
    if (!id) throw new SourceError('FlavorNotFound', `Server ${server.id} has no flavor.`);
    const res = await this.session.call<{ flavor: unknown }>(
      'compute',
      `/flavors/${encodeURIComponent(id)}`,
      {
        method: 'GET',
        what: `reading flavor ${id}`,
      },
    );
    expectOk(res, `Reading flavor ${id}`);
    const figures = flavorFigures(res.data.flavor);
    if (!figures) throw new SourceError('FlavorNotFound', `Flavor ${id} has no vcpus/ram.`);
    return figures;
  }

  async imageProperties(imageId: string): Promise<Record<string, unknown> | undefined> {
    const res = await this.session.call<Record<string, unknown>>('image', `/images/${imageId}`, {
      method: 'GET',
      what: `reading image ${imageId}`,
    });
    if (res.status === 404) return undefined; // a deleted base image: firmware unknown → BIOS
    expectOk(res, `Reading image ${imageId}`);
    return res.data;
  }

  async nicsOf(server: NovaServer): Promise<SourceNic[]> {
    const res = await this.session.call<{ interfaceAttachments?: InterfaceAttachment[] }>(
      'compute',
      `/servers/${server.id}/os-interface`,
      { method: 'GET', what: `listing ports of server ${server.id}` },
    );
    expectOk(res, `Listing ports of server ${server.id}`);
    const ports = res.data.interfaceAttachments ?? [];
    const ids = [...new Set(ports.map((p) => p.net_id).filter((x): x is string => Boolean(x)))];
    return nicsInPortOrder(ports, ids.length ? await this.networkNames(ids) : new Map());
  }
}
