// Wire formats of the simulated services: resource bodies and error bodies as the API reference
// documents them (Keystone v3, Compute v2.1, Block Storage v3, Image v2, Networking v2.0).
import type { CloudModel, Image, Network, Server, Snapshot, UserMessage, Volume } from './model.ts';

/** A microversion as one comparable number: major * 1000 + minor (2.9 < 2.19). */
export const mver = (major: number, minor: number): number => major * 1000 + minor;

export type Service = 'identity' | 'compute' | 'volume' | 'image' | 'network';

export interface SimResponse {
  status: number;
  headers?: Record<string, string>;
  /** JSON value, a raw string (with content-type in headers), or undefined for no body. */
  body?: unknown;
  /** File to stream as the body (Glance image data). */
  file?: { path: string; size: number };
}

const STATUS_TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Request Entity Too Large',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Nova and Cinder wrap faults in an object named after the fault (nova/api/openstack/wsgi.py). */
const FAULT_NAMES: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

export function title(status: number): string {
  return STATUS_TITLES[status] ?? 'Error';
}

/** An error answer in the format of `service`. */
export function errorResponse(
  service: Service,
  status: number,
  message: string,
  options: { neutronType?: string; acceptJson?: boolean } = {},
): SimResponse {
  switch (service) {
    case 'identity':
      return { status, body: { error: { code: status, title: title(status), message } } };
    case 'compute':
    case 'volume':
      return { status, body: { [FAULT_NAMES[status] ?? 'computeFault']: { code: status, message } } };
    case 'network':
      return {
        status,
        body: { NeutronError: { type: options.neutronType ?? 'HTTPError', message, detail: '' } },
      };
    case 'image': {
      // Glance answers with webob's error page: JSON when the client accepts it, HTML otherwise.
      const code = `${status} ${title(status)}`;
      if (options.acceptJson) return { status, body: { message, code, title: title(status) } };
      return {
        status,
        headers: { 'content-type': 'text/html; charset=UTF-8' },
        body: `<html>\n <head>\n  <title>${code}</title>\n </head>\n <body>\n  <h1>${code}</h1>\n  ${message}<br /><br />\n\n\n\n </body>\n</html>`,
      };
    }
  }
}

/** The 401 keystonemiddleware answers for a missing, invalid or expired token on every service. */
export function unauthorized(identityUrl: string): SimResponse {
  return {
    status: 401,
    headers: { 'www-authenticate': `Keystone uri="${identityUrl}"` },
    body: {
      error: {
        code: 401,
        title: 'Unauthorized',
        message: 'The request you have made requires authentication.',
      },
    },
  };
}

const iso = (t: string): string => t.replace(/\.\d+$/, 'Z');

// ---- Nova -----------------------------------------------------------------------------------

export function novaServer(
  model: CloudModel,
  server: Server,
  mv: number,
  urls: { compute: string; image: string },
): Record<string, unknown> {
  const self = `${urls.compute}/servers/${server.id}`;
  const addresses: Record<string, unknown[]> = {};
  for (const port of server.ports) {
    if (!port.ip) continue; // ports without a fixed IP are not in `addresses`
    const net = model.networks.find((n) => n.id === port.networkId);
    const list = (addresses[net?.name ?? port.networkId] ??= []);
    list.push({
      version: port.ip.includes(':') ? 6 : 4,
      addr: port.ip,
      'OS-EXT-IPS:type': 'fixed',
      'OS-EXT-IPS-MAC:mac_addr': port.mac,
    });
  }
  const stopped = server.status === 'SHUTOFF';
  const body: Record<string, unknown> = {
    id: server.id,
    name: server.name,
    status: server.status,
    tenant_id: model.projectId,
    user_id: model.userId,
    metadata: {},
    hostId: server.id.replace(/-/g, '').padEnd(56, '0'),
    image: server.imageId
      ? { id: server.imageId, links: [{ rel: 'bookmark', href: `${urls.image}/images/${server.imageId}` }] }
      : '',
    flavor:
      mv >= mver(2, 47)
        ? {
            vcpus: server.flavor.vcpus,
            ram: server.flavor.ram,
            disk: server.flavor.disk,
            ephemeral: 0,
            swap: 0,
            original_name: server.flavor.name,
            extra_specs: {},
          }
        : {
            id: server.flavor.id,
            links: [{ rel: 'bookmark', href: `${urls.compute}/flavors/${server.flavor.id}` }],
          },
    created: iso(server.createdAt),
    updated: iso(server.updatedAt),
    addresses,
    accessIPv4: '',
    accessIPv6: '',
    links: [
      { rel: 'self', href: self },
      { rel: 'bookmark', href: self },
    ],
    'OS-DCF:diskConfig': 'MANUAL',
    'OS-EXT-AZ:availability_zone': 'nova',
    config_drive: '',
    key_name: null,
    'OS-SRV-USG:launched_at': server.createdAt,
    'OS-SRV-USG:terminated_at': null,
    'OS-EXT-STS:task_state': server.taskState,
    'OS-EXT-STS:vm_state': stopped ? 'stopped' : 'active',
    'OS-EXT-STS:power_state': stopped ? 4 : 1,
    'os-extended-volumes:volumes_attached': server.volumeIds.map((id) =>
      mv >= mver(2, 3) ? { id, delete_on_termination: false } : { id },
    ),
    security_groups: [{ name: 'default' }],
  };
  if (server.status === 'ACTIVE') body.progress = 0;
  if (mv >= mver(2, 9)) body.locked = false;
  if (mv >= mver(2, 19)) body.description = server.description;
  if (mv >= mver(2, 26)) body.tags = [];
  if (mv >= mver(2, 63)) body.trusted_image_certificates = null;
  if (mv >= mver(2, 71)) body.server_groups = [];
  if (mv >= mver(2, 73)) body.locked_reason = null;
  return body;
}

export function novaFlavor(server: Server, mv: number, computeUrl: string): Record<string, unknown> {
  const f = server.flavor;
  const href = `${computeUrl}/flavors/${f.id}`;
  const body: Record<string, unknown> = {
    id: f.id,
    name: f.name,
    ram: f.ram,
    disk: f.disk,
    vcpus: f.vcpus,
    swap: mv >= mver(2, 75) ? 0 : '',
    'OS-FLV-EXT-DATA:ephemeral': 0,
    'OS-FLV-DISABLED:disabled': false,
    rxtx_factor: 1.0,
    'os-flavor-access:is_public': true,
    links: [
      { rel: 'self', href },
      { rel: 'bookmark', href },
    ],
  };
  if (mv >= mver(2, 55)) body.description = null;
  if (mv >= mver(2, 61)) body.extra_specs = {};
  return body;
}

// ---- Cinder ---------------------------------------------------------------------------------

export function cinderVolume(
  model: CloudModel,
  v: Volume,
  mv: number,
  volumeUrl: string,
): Record<string, unknown> {
  const href = `${volumeUrl}/volumes/${v.id}`;
  const body: Record<string, unknown> = {
    id: v.id,
    name: v.name,
    description: v.description,
    status: v.status,
    size: v.size,
    availability_zone: 'nova',
    created_at: v.createdAt,
    updated_at: v.updatedAt,
    volume_type: 'lvmdriver-1',
    snapshot_id: v.snapshotId,
    source_volid: null,
    bootable: v.bootable ? 'true' : 'false',
    encrypted: false,
    multiattach: false,
    metadata: {},
    attachments: v.attachments.map((a) => ({
      server_id: a.serverId,
      attachment_id: a.attachmentId,
      attached_at: a.attachedAt,
      host_name: null,
      volume_id: v.id,
      device: a.device,
      id: v.id,
    })),
    links: [
      { rel: 'self', href },
      { rel: 'bookmark', href },
    ],
    user_id: model.userId,
    'os-vol-tenant-attr:tenant_id': model.projectId,
    replication_status: null,
    consistencygroup_id: null,
  };
  if (Object.keys(v.imageMetadata).length) body.volume_image_metadata = v.imageMetadata;
  if (mv >= mver(3, 13)) body.group_id = null;
  if (mv >= mver(3, 48)) {
    body.service_uuid = model.projectId;
    body.shared_targets = false;
  }
  if (mv >= mver(3, 63)) body.volume_type_id = model.projectId;
  if (mv >= mver(3, 65)) body.consumes_quota = true;
  return body;
}

export function cinderSnapshot(model: CloudModel, s: Snapshot, mv: number): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: s.id,
    name: s.name,
    description: s.description,
    status: s.status,
    size: s.size,
    volume_id: s.volumeId,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
    metadata: {},
    'os-extended-snapshot-attributes:progress': s.status === 'available' ? '100%' : '0%',
    'os-extended-snapshot-attributes:project_id': model.projectId,
  };
  if (mv >= mver(3, 14)) body.group_snapshot_id = null;
  if (mv >= mver(3, 41)) body.user_id = model.userId;
  if (mv >= mver(3, 65)) body.consumes_quota = true;
  return body;
}

export function cinderMessage(m: UserMessage, volumeUrl: string): Record<string, unknown> {
  const href = `${volumeUrl}/messages/${m.id}`;
  return {
    id: m.id,
    event_id: m.eventId,
    user_message: m.userMessage,
    message_level: 'ERROR',
    resource_type: m.resourceType,
    resource_uuid: m.resourceUuid,
    request_id: m.requestId,
    created_at: m.createdAt,
    guaranteed_until: m.createdAt,
    links: [
      { rel: 'self', href },
      { rel: 'bookmark', href },
    ],
  };
}

// ---- Glance ---------------------------------------------------------------------------------

export function glanceImage(model: CloudModel, i: Image): Record<string, unknown> {
  return {
    ...i.properties,
    id: i.id,
    name: i.name,
    status: i.status,
    visibility: 'private',
    protected: false,
    os_hidden: false,
    checksum: i.checksum,
    os_hash_algo: i.hashValue ? 'sha512' : null,
    os_hash_value: i.hashValue,
    container_format: i.containerFormat,
    disk_format: i.diskFormat,
    size: i.size,
    virtual_size: i.virtualSize,
    min_disk: 0,
    min_ram: 0,
    owner: model.projectId,
    tags: [],
    created_at: iso(i.createdAt),
    updated_at: iso(i.updatedAt),
    self: `/v2/images/${i.id}`,
    file: `/v2/images/${i.id}/file`,
    schema: '/v2/schemas/image',
  };
}

// ---- Neutron --------------------------------------------------------------------------------

export function neutronNetwork(model: CloudModel, n: Network): Record<string, unknown> {
  return {
    id: n.id,
    name: n.name,
    tenant_id: model.projectId,
    project_id: model.projectId,
    admin_state_up: true,
    mtu: 1450,
    status: 'ACTIVE',
    subnets: [n.subnetId],
    shared: false,
    'router:external': false,
    availability_zone_hints: [],
    availability_zones: ['nova'],
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    description: '',
    port_security_enabled: true,
    tags: [],
    created_at: '2024-01-01T00:00:00Z',
    updated_at: '2024-01-01T00:00:00Z',
    revision_number: 1,
  };
}
