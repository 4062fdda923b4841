// Request handling of the simulated cloud: one table of routes per service, token checks as
// keystonemiddleware does them, microversion negotiation, fault injection and the request log.
import { randomUUID } from 'node:crypto';
import type { CloudModel, OpenstackFaults, Server } from './model.ts';
import {
  cinderMessage,
  cinderSnapshot,
  cinderVolume,
  errorResponse,
  glanceImage,
  mver,
  neutronNetwork,
  novaFlavor,
  novaServer,
  unauthorized,
  type Service,
  type SimResponse,
} from './responses.ts';

export const NOVA_MIN = mver(2, 1);
export const NOVA_MAX = mver(2, 96);
export const NOVA_MAX_STRING = '2.96';
export const CINDER_MAX_STRING = '3.70';

export interface Credentials {
  username: string;
  password: string;
  projectName: string;
  domainName: string;
}

export interface RequestContext {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  baseUrl: string;
}

type Handler = (ctx: RequestContext, params: string[], mv: number) => SimResponse | Promise<SimResponse>;
interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

/** Parses "major.minor" into the comparable number of `mver`. */
export function parseMicroversion(text: string): number | undefined {
  const m = /^(\d+)\.(\d+)$/.exec(text.trim());
  return m ? mver(Number(m[1]), Number(m[2])) : undefined;
}
const mvString = (mv: number): string => `${Math.floor(mv / 1000)}.${mv % 1000}`;

function header(ctx: RequestContext, name: string): string | undefined {
  const v = ctx.headers[name.toLowerCase()];
  return Array.isArray(v) ? v[0] : v;
}

function requestedMicroversion(
  ctx: RequestContext,
  service: string,
  legacyHeader?: string,
): string | undefined {
  const generic = header(ctx, 'openstack-api-version');
  if (generic) {
    const [svc, version] = generic.trim().split(/\s+/);
    if (svc === service && version) return version;
  }
  return legacyHeader ? header(ctx, legacyHeader) : undefined;
}

export class Router {
  private readonly log: Array<{ method: string; path: string; status: number }> = [];

  constructor(
    private readonly model: CloudModel,
    private readonly credentials: Credentials,
  ) {}

  requests(): Array<{ method: string; path: string; status: number }> {
    return this.log.map((r) => ({ ...r }));
  }

  setFaults(faults: OpenstackFaults): void {
    this.model.faults = { ...this.model.faults, ...faults };
  }

  urls(base: string) {
    return {
      identity: `${base}/identity`,
      compute: `${base}/compute/v2.1`,
      volume: `${base}/volume/v3/${this.model.projectId}`,
      image: `${base}/image`,
      network: `${base}/networking`,
    };
  }

  async handle(ctx: RequestContext): Promise<SimResponse> {
    if (ctx.path.startsWith('/_sim/')) return this.control(ctx);
    const response = await this.dispatch(ctx);
    const requestId = `req-${randomUUID()}`;
    response.headers = { 'x-openstack-request-id': requestId, ...response.headers };
    if (ctx.path.startsWith('/compute')) response.headers['x-compute-request-id'] = requestId;
    this.log.push({ method: ctx.method, path: ctx.path, status: response.status });
    return response;
  }

  private service(path: string): Service | undefined {
    if (path.startsWith('/identity')) return 'identity';
    if (path.startsWith('/compute')) return 'compute';
    if (path.startsWith('/volume')) return 'volume';
    if (path.startsWith('/image')) return 'image';
    if (path.startsWith('/networking')) return 'network';
    return undefined;
  }

  private injected(ctx: RequestContext, service: Service): SimResponse | undefined {
    const rules = this.model.faults.httpErrors ?? [];
    for (const rule of rules) {
      if (rule.method && rule.method.toUpperCase() !== ctx.method) continue;
      if (!new RegExp(rule.path).test(ctx.path)) continue;
      const times = rule.times ?? 1;
      if (times <= 0) continue;
      rule.times = times - 1;
      const status = rule.status ?? 503;
      return errorResponse(service, status, `Injected failure (${status}).`, {
        acceptJson: accepts(ctx, 'application/json'),
      });
    }
    return undefined;
  }

  private async dispatch(ctx: RequestContext): Promise<SimResponse> {
    const service = this.service(ctx.path);
    if (!service) return { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };
    const fault = this.injected(ctx, service);
    if (fault) return fault;
    const urls = this.urls(ctx.baseUrl);
    switch (service) {
      case 'identity':
        return this.keystone(ctx, urls.identity);
      case 'compute':
        return this.nova(ctx);
      case 'volume':
        return this.cinder(ctx);
      case 'image':
        return this.glance(ctx);
      case 'network':
        return this.neutron(ctx);
    }
  }

  private authorized(ctx: RequestContext): boolean {
    return this.model.validToken(header(ctx, 'x-auth-token')) !== undefined;
  }

  private async route(
    ctx: RequestContext,
    service: Service,
    prefix: string,
    routes: Route[],
    mv: number,
  ): Promise<SimResponse> {
    const rest = ctx.path.slice(prefix.length).replace(/\/+$/, '') || '/';
    let pathMatched = false;
    for (const r of routes) {
      const m = r.pattern.exec(rest);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== ctx.method) continue;
      return r.handler(ctx, m.slice(1), mv);
    }
    if (pathMatched) return errorResponse(service, 405, 'The method is not allowed for the requested URL.');
    return errorResponse(service, 404, 'The resource could not be found.', {
      acceptJson: accepts(ctx, 'application/json'),
      neutronType: 'HTTPNotFound',
    });
  }

  // ---- Keystone -----------------------------------------------------------------------------

  private keystone(ctx: RequestContext, identityUrl: string): SimResponse | Promise<SimResponse> {
    const v3 = {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `${identityUrl}/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    };
    const rest = ctx.path.slice('/identity'.length).replace(/\/+$/, '');
    if (ctx.method === 'GET' && rest === '') return { status: 300, body: { versions: { values: [v3] } } };
    if (ctx.method === 'GET' && rest === '/v3') return { status: 200, body: { version: v3 } };
    if (rest === '/v3/auth/tokens' && ctx.method === 'POST') return this.authenticate(ctx, identityUrl);
    if (rest === '/v3/auth/tokens' && ctx.method === 'DELETE') return this.revokeToken(ctx);
    return errorResponse('identity', 404, 'The resource could not be found.');
  }

  private authenticate(ctx: RequestContext, identityUrl: string): SimResponse {
    const auth = (ctx.body as { auth?: Record<string, unknown> } | undefined)?.auth;
    const identity = auth?.identity as
      { methods?: unknown; password?: { user?: Record<string, unknown> } } | undefined;
    if (!identity || !Array.isArray(identity.methods))
      return errorResponse(
        'identity',
        400,
        "Invalid input for field 'identity': 'methods' is a required property",
      );
    if (!identity.methods.includes('password') || !identity.password?.user)
      return errorResponse('identity', 401, 'The request you have made requires authentication.');
    const user = identity.password.user as {
      name?: string;
      id?: string;
      password?: string;
      domain?: { name?: string; id?: string };
    };
    const c = this.credentials;
    const domainOk = (d?: { name?: string; id?: string }): boolean =>
      d?.name === c.domainName || (c.domainName.toLowerCase() === 'default' && d?.id === 'default');
    const userOk = (user.name === c.username && domainOk(user.domain)) || user.id === this.model.userId;
    if (!userOk || user.password !== c.password)
      return errorResponse('identity', 401, 'The request you have made requires authentication.');
    const scope = auth?.scope as {
      project?: { name?: string; id?: string; domain?: { name?: string; id?: string } };
    };
    const project = scope?.project;
    if (project) {
      const projectOk =
        project.id === this.model.projectId || (project.name === c.projectName && domainOk(project.domain));
      if (!projectOk)
        return errorResponse('identity', 401, 'The request you have made requires authentication.');
    }
    const token = this.model.issueToken();
    const domain = { id: this.model.domainId, name: c.domainName };
    const body: Record<string, unknown> = {
      methods: ['password'],
      user: { domain, id: this.model.userId, name: c.username, password_expires_at: null },
      audit_ids: [token.auditId],
      expires_at: new Date(token.expiresAt).toISOString().replace(/Z$/, '000Z'),
      issued_at: new Date(token.issuedAt).toISOString().replace(/Z$/, '000Z'),
    };
    if (project) {
      body.project = { domain, id: this.model.projectId, name: c.projectName };
      body.is_domain = false;
      body.roles = [
        { id: 'member-role', name: 'member' },
        { id: 'reader-role', name: 'reader' },
      ];
      body.catalog = this.catalog(ctx.baseUrl, identityUrl);
    }
    return { status: 201, headers: { 'x-subject-token': token.id }, body: { token: body } };
  }

  /**
   * DELETE /v3/auth/tokens: the X-Subject-Token stops being valid at once, whatever its expiry
   * (keystone/api/auth.py AuthTokenResource.delete → token_provider_api.revoke_token; the Identity
   * API v3 reference, "Revoke token"). The caller authenticates with X-Auth-Token (a token may
   * revoke itself); an unknown subject token is 404 TokenNotFound. Every service then answers 401
   * for it, as keystonemiddleware does for a revoked token.
   */
  private revokeToken(ctx: RequestContext): SimResponse {
    if (!this.model.validToken(header(ctx, 'x-auth-token')))
      return errorResponse('identity', 401, 'The request you have made requires authentication.');
    const subject = header(ctx, 'x-subject-token');
    if (!subject || !this.model.validToken(subject))
      return errorResponse('identity', 404, `Could not find token: ${subject ?? ''}.`);
    this.model.revokeToken(subject);
    return { status: 204 };
  }

  private catalog(base: string, identityUrl: string): unknown[] {
    const urls = this.urls(base);
    const region = this.model.region;
    const endpoints = (service: string, url: string, interfaces = ['public', 'internal']) =>
      interfaces.map((iface) => ({
        id: `${service}-${iface}`,
        interface: iface,
        region_id: region,
        region,
        url,
      }));
    return [
      {
        id: 'keystone',
        type: 'identity',
        name: 'keystone',
        endpoints: endpoints('keystone', identityUrl, ['public', 'internal', 'admin']),
      },
      { id: 'nova', type: 'compute', name: 'nova', endpoints: endpoints('nova', urls.compute) },
      { id: 'cinderv3', type: 'volumev3', name: 'cinderv3', endpoints: endpoints('cinderv3', urls.volume) },
      { id: 'cinder', type: 'block-storage', name: 'cinder', endpoints: endpoints('cinder', urls.volume) },
      { id: 'glance', type: 'image', name: 'glance', endpoints: endpoints('glance', urls.image) },
      { id: 'neutron', type: 'network', name: 'neutron', endpoints: endpoints('neutron', urls.network) },
    ];
  }

  // ---- Nova ---------------------------------------------------------------------------------

  private novaVersion(base: string) {
    return {
      id: 'v2.1',
      status: 'CURRENT',
      version: NOVA_MAX_STRING,
      min_version: '2.1',
      updated: '2013-07-23T11:33:21Z',
      links: [{ rel: 'self', href: `${base}/compute/v2.1/` }],
      'media-types': [
        { base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' },
      ],
    };
  }

  private async nova(ctx: RequestContext): Promise<SimResponse> {
    const rest = ctx.path.slice('/compute'.length).replace(/\/+$/, '');
    if (ctx.method === 'GET' && rest === '')
      return { status: 200, body: { versions: [this.novaVersion(ctx.baseUrl)] } };
    if (ctx.method === 'GET' && rest === '/v2.1')
      return { status: 200, body: { version: this.novaVersion(ctx.baseUrl) } };
    if (!rest.startsWith('/v2.1/')) return errorResponse('compute', 404, 'The resource could not be found.');
    if (!this.authorized(ctx)) return unauthorized(this.urls(ctx.baseUrl).identity);

    const requested = requestedMicroversion(ctx, 'compute', 'x-openstack-nova-api-version');
    let mv = NOVA_MIN;
    if (requested) {
      const parsed = requested === 'latest' ? NOVA_MAX : parseMicroversion(requested);
      if (parsed === undefined)
        return errorResponse(
          'compute',
          400,
          `API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`,
        );
      if (parsed < NOVA_MIN || parsed > NOVA_MAX)
        return {
          status: 406,
          body: {
            computeFault: {
              code: 406,
              message: `Version ${requested} is not supported by the API. Minimum is 2.1 and maximum is ${NOVA_MAX_STRING}.`,
            },
          },
        };
      mv = parsed;
    }
    const response = await this.route(ctx, 'compute', '/compute/v2.1', this.novaRoutes(), mv);
    const v = mvString(mv);
    response.headers = {
      ...response.headers,
      'openstack-api-version': `compute ${v}`,
      'x-openstack-nova-api-version': v,
      vary: 'OpenStack-API-Version, X-OpenStack-Nova-API-Version',
    };
    return response;
  }

  private server(id: string): Server | undefined {
    return this.model.servers.get(id);
  }

  private novaRoutes(): Route[] {
    const notFound = (id: string) => errorResponse('compute', 404, `Instance ${id} could not be found.`);
    const urls = (ctx: RequestContext) => {
      const u = this.urls(ctx.baseUrl);
      return { compute: u.compute, image: u.image };
    };
    const list = (ctx: RequestContext, mv: number, detail: boolean): SimResponse => {
      let servers = [...this.model.servers.values()].sort(
        (a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id),
      );
      const name = ctx.query.get('name');
      if (name !== null) {
        // Nova filters `name` as a regular expression (a substring match).
        let re: RegExp;
        try {
          re = new RegExp(name);
        } catch {
          return { status: 200, body: { servers: [] } };
        }
        servers = servers.filter((s) => re.test(s.name));
      }
      const status = ctx.query.get('status');
      if (status) servers = servers.filter((s) => s.status === status.toUpperCase());
      const marker = ctx.query.get('marker');
      if (marker) {
        const at = servers.findIndex((s) => s.id === marker);
        if (at < 0) return errorResponse('compute', 400, `marker [${marker}] not found`);
        servers = servers.slice(at + 1);
      }
      const limitRaw = ctx.query.get('limit');
      const body: Record<string, unknown> = {};
      if (limitRaw !== null) {
        const limit = Number(limitRaw);
        if (!Number.isInteger(limit) || limit < 0)
          return errorResponse(
            'compute',
            400,
            'Invalid input for query parameters limit. Value: ' + limitRaw,
          );
        if (servers.length > limit) {
          servers = servers.slice(0, limit);
          const next = new URLSearchParams(ctx.query);
          next.set('marker', servers[servers.length - 1]!.id);
          body.servers_links = [
            {
              rel: 'next',
              href: `${this.urls(ctx.baseUrl).compute}/servers${detail ? '/detail' : ''}?${next}`,
            },
          ];
        }
      }
      body.servers = servers.map((s) =>
        detail
          ? novaServer(this.model, s, mv, urls(ctx))
          : {
              id: s.id,
              name: s.name,
              links: [{ rel: 'self', href: `${this.urls(ctx.baseUrl).compute}/servers/${s.id}` }],
            },
      );
      return { status: 200, body };
    };
    return [
      { method: 'GET', pattern: /^\/servers$/, handler: (ctx, _p, mv) => list(ctx, mv, false) },
      { method: 'GET', pattern: /^\/servers\/detail$/, handler: (ctx, _p, mv) => list(ctx, mv, true) },
      {
        method: 'GET',
        pattern: /^\/servers\/([^/]+)$/,
        handler: (ctx, [id], mv) => {
          const s = this.server(id!);
          return s
            ? { status: 200, body: { server: novaServer(this.model, s, mv, urls(ctx)) } }
            : notFound(id!);
        },
      },
      {
        method: 'GET',
        pattern: /^\/servers\/([^/]+)\/os-interface$/,
        handler: (_ctx, [id], mv) => {
          const s = this.server(id!);
          if (!s) return notFound(id!);
          return {
            status: 200,
            body: {
              interfaceAttachments: s.ports.map((p) => {
                const net = this.model.networks.find((n) => n.id === p.networkId);
                const a: Record<string, unknown> = {
                  fixed_ips: p.ip ? [{ ip_address: p.ip, subnet_id: net?.subnetId }] : [],
                  mac_addr: p.mac,
                  net_id: p.networkId,
                  port_id: p.id,
                  port_state: 'ACTIVE',
                };
                if (mv >= mver(2, 70)) a.tag = null;
                return a;
              }),
            },
          };
        },
      },
      {
        method: 'GET',
        pattern: /^\/flavors\/([^/]+)$/,
        handler: (ctx, [id], mv) => {
          const s = [...this.model.servers.values()].find((x) => x.flavor.id === id);
          if (!s) return errorResponse('compute', 404, `Flavor ${id} could not be found.`);
          return { status: 200, body: { flavor: novaFlavor(s, mv, this.urls(ctx.baseUrl).compute) } };
        },
      },
      {
        method: 'POST',
        pattern: /^\/servers\/([^/]+)\/action$/,
        handler: (ctx, [id], mv) => {
          const s = this.server(id!);
          if (!s) return notFound(id!);
          const body = (ctx.body ?? {}) as Record<string, unknown>;
          if ('os-stop' in body) {
            if (s.taskState)
              return errorResponse(
                'compute',
                409,
                `Cannot 'stop' instance ${s.id} while it is in task_state ${s.taskState}`,
              );
            if (s.status !== 'ACTIVE')
              return errorResponse(
                'compute',
                409,
                `Cannot 'stop' instance ${s.id} while it is in vm_state stopped`,
              );
            this.model.stopServer(s);
            return { status: 202 };
          }
          // nova.compute.api.API.start: @check_instance_state(vm_state=[STOPPED]) and no task
          // in progress, else InstanceInvalidState (409) with this message.
          if ('os-start' in body) {
            if (s.taskState)
              return errorResponse(
                'compute',
                409,
                `Cannot 'start' instance ${s.id} while it is in task_state ${s.taskState}`,
              );
            if (s.status !== 'SHUTOFF')
              return errorResponse(
                'compute',
                409,
                `Cannot 'start' instance ${s.id} while it is in vm_state active`,
              );
            this.model.startServer(s);
            return { status: 202 };
          }
          if ('createImage' in body) return this.createImage(ctx, s, body.createImage, mv);
          const action = Object.keys(body)[0] ?? '';
          return errorResponse('compute', 400, `There is no such action: ${action}`);
        },
      },
    ];
  }

  private createImage(ctx: RequestContext, s: Server, raw: unknown, mv: number): SimResponse {
    const args = (raw ?? {}) as { name?: unknown; metadata?: Record<string, string> };
    if (typeof args.name !== 'string' || !args.name.trim())
      return errorResponse(
        'compute',
        400,
        "Invalid input for field/attribute name. Value: None. None is not of type 'string'",
      );
    if (s.taskState)
      return errorResponse(
        'compute',
        409,
        `Cannot 'createImage' instance ${s.id} while it is in task_state ${s.taskState}`,
      );
    let imageId: string;
    if (s.rootDiskPath) {
      imageId = this.model.snapshotServer(s, args.name, args.metadata ?? {}).id;
    } else {
      // Volume-backed server: Nova snapshots each volume and registers a zero-byte image whose
      // block_device_mapping property points at those snapshots.
      const mapping = s.volumeIds.map((vid, i) => {
        const v = this.model.volumes.get(vid)!;
        const snap = this.model.createSnapshot(v, `snapshot for ${args.name}`, null);
        return {
          source_type: 'snapshot',
          destination_type: 'volume',
          snapshot_id: snap.id,
          volume_size: v.size,
          boot_index: i === 0 ? 0 : null,
          device_name: v.attachments[0]?.device ?? null,
          delete_on_termination: false,
        };
      });
      const t = new Date().toISOString();
      imageId = randomUUID();
      this.model.images.set(imageId, {
        id: imageId,
        name: args.name,
        status: 'active',
        diskFormat: 'qcow2',
        containerFormat: 'bare',
        size: 0,
        virtualSize: null,
        checksum: null,
        hashValue: null,
        path: null,
        properties: {
          ...args.metadata,
          bdm_v2: 'True',
          root_device_name: '/dev/vda',
          block_device_mapping: JSON.stringify(mapping),
        },
        createdAt: t,
        updatedAt: t,
      });
    }
    if (mv >= mver(2, 45)) return { status: 202, body: { image_id: imageId } };
    return { status: 202, headers: { location: `${this.urls(ctx.baseUrl).image}/v2/images/${imageId}` } };
  }

  // ---- Cinder -------------------------------------------------------------------------------

  private async cinder(ctx: RequestContext): Promise<SimResponse> {
    const rest = ctx.path.slice('/volume'.length).replace(/\/+$/, '');
    const version = {
      id: 'v3.0',
      status: 'CURRENT',
      version: CINDER_MAX_STRING,
      min_version: '3.0',
      updated: '2023-08-31T00:00:00Z',
      links: [{ rel: 'self', href: `${ctx.baseUrl}/volume/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.volume+json;version=3' }],
    };
    if (ctx.method === 'GET' && rest === '') return { status: 300, body: { versions: [version] } };
    if (ctx.method === 'GET' && rest === '/v3') return { status: 200, body: { versions: [version] } };
    const prefix = `/volume/v3/${this.model.projectId}`;
    if (!ctx.path.startsWith(prefix)) return errorResponse('volume', 404, 'The resource could not be found.');
    if (!this.authorized(ctx)) return unauthorized(this.urls(ctx.baseUrl).identity);
    const requested = requestedMicroversion(ctx, 'volume');
    let mv = mver(3, 0);
    if (requested) {
      const parsed =
        requested === 'latest' ? parseMicroversion(CINDER_MAX_STRING)! : parseMicroversion(requested);
      if (parsed === undefined || parsed < mver(3, 0) || parsed > parseMicroversion(CINDER_MAX_STRING)!)
        return errorResponse(
          'volume',
          406,
          `Version ${requested} is not supported by the API. Minimum is 3.0 and maximum is ${CINDER_MAX_STRING}.`,
        );
      mv = parsed;
    }
    const response = await this.route(ctx, 'volume', prefix, this.cinderRoutes(), mv);
    response.headers = {
      ...response.headers,
      'openstack-api-version': `volume ${mvString(mv)}`,
      vary: 'OpenStack-API-Version',
    };
    return response;
  }

  private cinderRoutes(): Route[] {
    const m = this.model;
    const volUrl = (ctx: RequestContext) => this.urls(ctx.baseUrl).volume;
    const volNotFound = (id: string) => errorResponse('volume', 404, `Volume ${id} could not be found.`);
    const snapNotFound = (id: string) => errorResponse('volume', 404, `Snapshot ${id} could not be found.`);
    const bad = (msg: string) => errorResponse('volume', 400, msg);
    return [
      {
        method: 'GET',
        pattern: /^\/volumes\/detail$/,
        handler: (ctx, _p, mv) => ({
          status: 200,
          body: { volumes: [...m.volumes.values()].map((v) => cinderVolume(m, v, mv, volUrl(ctx))) },
        }),
      },
      {
        method: 'GET',
        pattern: /^\/volumes\/([^/]+)$/,
        handler: (ctx, [id], mv) => {
          const v = m.volumes.get(id!);
          return v
            ? { status: 200, body: { volume: cinderVolume(m, v, mv, volUrl(ctx)) } }
            : volNotFound(id!);
        },
      },
      {
        method: 'POST',
        pattern: /^\/volumes$/,
        handler: (ctx, _p, mv) => {
          const req = (ctx.body as { volume?: Record<string, unknown> })?.volume;
          if (!req) return bad("Missing required element 'volume' in request body.");
          const snapshotId = req.snapshot_id as string | undefined;
          if (!snapshotId)
            return bad('Creating volumes without a source is not supported by this simulator.');
          const snap = m.snapshots.get(snapshotId);
          if (!snap) return snapNotFound(snapshotId);
          if (snap.status !== 'available')
            return bad("Invalid snapshot: Originating snapshot status must be one of 'available' values");
          const size = req.size === undefined || req.size === null ? snap.size : Number(req.size);
          if (!Number.isInteger(size) || size <= 0)
            return bad(
              `Invalid input received: Volume size '${String(req.size)}' must be an integer and greater than 0.`,
            );
          if (size < snap.size)
            return bad(
              `Invalid input received: Volume size '${size}'GB cannot be smaller than the snapshot size ${snap.size}GB. They must be >= original snapshot size.`,
            );
          const v = m.createVolumeFromSnapshot(
            snap,
            size,
            typeof req.name === 'string' ? req.name : '',
            typeof req.description === 'string' ? req.description : null,
          );
          return { status: 202, body: { volume: cinderVolume(m, v, mv, volUrl(ctx)) } };
        },
      },
      {
        method: 'DELETE',
        pattern: /^\/volumes\/([^/]+)$/,
        handler: (_ctx, [id]) => {
          const v = m.volumes.get(id!);
          if (!v) return volNotFound(id!);
          const deletable = ['available', 'error', 'error_restoring', 'error_extending', 'error_managing'];
          if (!deletable.includes(v.status) || v.attachments.length || m.snapshotsOf(v).length)
            return bad(
              'Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.',
            );
          m.deleteVolume(v);
          return { status: 202 };
        },
      },
      {
        method: 'POST',
        pattern: /^\/volumes\/([^/]+)\/action$/,
        handler: (ctx, [id]) => {
          const v = m.volumes.get(id!);
          if (!v) return volNotFound(id!);
          const body = (ctx.body ?? {}) as Record<string, unknown>;
          const upload = body['os-volume_upload_image'] as Record<string, unknown> | undefined;
          if (!upload) return bad(`There is no such action: ${Object.keys(body)[0] ?? ''}`);
          if (typeof upload.image_name !== 'string' || !upload.image_name)
            return bad(
              "Invalid input for field/attribute image_name. Value: None. None is not of type 'string'",
            );
          const force = upload.force === true || upload.force === 'true' || upload.force === 'True';
          if (!(v.status === 'available' || (v.status === 'in-use' && force)))
            return bad(
              `Invalid volume: Volume ${v.id} status must be available or in-use, but current status is: ${v.status}.`,
            );
          const diskFormat = typeof upload.disk_format === 'string' ? upload.disk_format : 'raw';
          if (!['raw', 'vmdk', 'vdi', 'qcow2', 'vhd', 'vhdx', 'ploop'].includes(diskFormat))
            return bad(
              `Invalid input received: Invalid disk-format '${diskFormat}' is specified. Allowed disk-formats are raw, vmdk, vdi, qcow2, vhd, vhdx, ploop.`,
            );
          const containerFormat =
            typeof upload.container_format === 'string' ? upload.container_format : 'bare';
          const image = m.uploadVolumeToImage(v, upload.image_name, diskFormat, containerFormat);
          return {
            status: 202,
            body: {
              'os-volume_upload_image': {
                id: v.id,
                updated_at: v.updatedAt,
                status: v.status,
                display_description: v.description,
                size: v.size,
                volume_type: { name: 'lvmdriver-1' },
                image_id: image.id,
                container_format: containerFormat,
                disk_format: diskFormat,
                image_name: image.name,
              },
            },
          };
        },
      },
      {
        method: 'GET',
        pattern: /^\/snapshots\/detail$/,
        handler: (_ctx, _p, mv) => ({
          status: 200,
          body: { snapshots: [...m.snapshots.values()].map((s) => cinderSnapshot(m, s, mv)) },
        }),
      },
      {
        method: 'GET',
        pattern: /^\/snapshots\/([^/]+)$/,
        handler: (_ctx, [id], mv) => {
          const s = m.snapshots.get(id!);
          return s ? { status: 200, body: { snapshot: cinderSnapshot(m, s, mv) } } : snapNotFound(id!);
        },
      },
      {
        method: 'POST',
        pattern: /^\/snapshots$/,
        handler: (ctx, _p, mv) => {
          const req = (ctx.body as { snapshot?: Record<string, unknown> })?.snapshot;
          if (!req) return bad("Missing required element 'snapshot' in request body.");
          const v = m.volumes.get(String(req.volume_id));
          if (!v) return volNotFound(String(req.volume_id));
          const force = req.force === true || req.force === 'true' || req.force === 'True';
          if (v.status === 'in-use' && !force && mv < mver(3, 66))
            return bad(
              `Invalid volume: Volume ${v.id} status must be available, but current status is: in-use.`,
            );
          if (v.status !== 'available' && v.status !== 'in-use')
            return bad(
              `Invalid volume: Volume ${v.id} status must be available, but current status is: ${v.status}.`,
            );
          const s = m.createSnapshot(
            v,
            typeof req.name === 'string' ? req.name : '',
            typeof req.description === 'string' ? req.description : null,
          );
          return { status: 202, body: { snapshot: cinderSnapshot(m, s, mv) } };
        },
      },
      {
        method: 'DELETE',
        pattern: /^\/snapshots\/([^/]+)$/,
        handler: (_ctx, [id]) => {
          const s = m.snapshots.get(id!);
          if (!s) return snapNotFound(id!);
          if (!['available', 'error', 'error_deleting'].includes(s.status))
            return bad(
              'Invalid snapshot: Volume Snapshot status must be available or error or error_deleting.',
            );
          if (m.volumesFrom(s).length)
            return bad(`Invalid snapshot: Snapshot ${s.id} has dependent volumes and cannot be deleted.`);
          m.deleteSnapshot(s);
          return { status: 202 };
        },
      },
      {
        method: 'GET',
        pattern: /^\/messages$/,
        handler: (ctx, _p, mv) => {
          if (mv < mver(3, 3)) return errorResponse('volume', 404, 'The resource could not be found.');
          const uuid = ctx.query.get('resource_uuid');
          const list = m.messages.filter((x) => !uuid || x.resourceUuid === uuid);
          return { status: 200, body: { messages: list.map((x) => cinderMessage(x, volUrl(ctx))) } };
        },
      },
    ];
  }

  // ---- Glance -------------------------------------------------------------------------------

  private async glance(ctx: RequestContext): Promise<SimResponse> {
    const rest = ctx.path.slice('/image'.length).replace(/\/+$/, '');
    if (ctx.method === 'GET' && (rest === '' || rest === '/versions'))
      return {
        status: rest === '' ? 300 : 200,
        body: {
          versions: [
            { id: 'v2.16', status: 'CURRENT', links: [{ rel: 'self', href: `${ctx.baseUrl}/image/v2/` }] },
          ],
        },
      };
    if (!this.authorized(ctx)) return unauthorized(this.urls(ctx.baseUrl).identity);
    const json = accepts(ctx, 'application/json');
    const m = this.model;
    const notFound = (id: string) =>
      errorResponse('image', 404, `No image found with ID ${id}`, { acceptJson: json });
    return this.route(
      ctx,
      'image',
      '/image/v2',
      [
        {
          method: 'GET',
          pattern: /^\/images\/([^/]+)$/,
          handler: (_c, [id]) => {
            const i = m.images.get(id!);
            return i ? { status: 200, body: glanceImage(m, i) } : notFound(id!);
          },
        },
        {
          method: 'GET',
          pattern: /^\/images\/([^/]+)\/file$/,
          handler: (_c, [id]) => {
            const i = m.images.get(id!);
            if (!i) return notFound(id!);
            if (i.status === 'deactivated')
              return errorResponse(
                'image',
                403,
                'The requested image has been deactivated. Image data download is forbidden.',
                { acceptJson: json },
              );
            if (!i.path || i.size === null) return { status: 204 };
            const headers: Record<string, string> = { 'content-type': 'application/octet-stream' };
            if (i.checksum) headers['content-md5'] = i.checksum;
            return { status: 200, headers, file: { path: i.path, size: i.size } };
          },
        },
        {
          method: 'DELETE',
          pattern: /^\/images\/([^/]+)$/,
          handler: async (_c, [id]) => {
            const i = m.images.get(id!);
            if (!i) return notFound(id!);
            await m.deleteImage(i);
            return { status: 204 };
          },
        },
      ],
      0,
    );
  }

  // ---- Neutron ------------------------------------------------------------------------------

  private async neutron(ctx: RequestContext): Promise<SimResponse> {
    const rest = ctx.path.slice('/networking'.length).replace(/\/+$/, '');
    if (ctx.method === 'GET' && rest === '')
      return {
        status: 200,
        body: {
          versions: [
            {
              status: 'CURRENT',
              id: 'v2.0',
              links: [{ rel: 'self', href: `${ctx.baseUrl}/networking/v2.0/` }],
            },
          ],
        },
      };
    if (!this.authorized(ctx)) return unauthorized(this.urls(ctx.baseUrl).identity);
    const m = this.model;
    return this.route(
      ctx,
      'network',
      '/networking/v2.0',
      [
        {
          method: 'GET',
          pattern: /^\/networks$/,
          handler: (c) => {
            const names = c.query.getAll('name');
            const ids = c.query.getAll('id');
            const nets = m.networks.filter(
              (n) => (!names.length || names.includes(n.name)) && (!ids.length || ids.includes(n.id)),
            );
            return { status: 200, body: { networks: nets.map((n) => neutronNetwork(m, n)) } };
          },
        },
        {
          method: 'GET',
          pattern: /^\/networks\/([^/]+)$/,
          handler: (_c, [id]) => {
            const n = m.networks.find((x) => x.id === id);
            if (!n)
              return errorResponse('network', 404, `Network ${id} could not be found.`, {
                neutronType: 'NetworkNotFound',
              });
            return { status: 200, body: { network: neutronNetwork(m, n) } };
          },
        },
      ],
      0,
    );
  }

  // ---- test control -------------------------------------------------------------------------

  private control(ctx: RequestContext): SimResponse {
    if (ctx.method === 'GET' && ctx.path === '/_sim/requests') return { status: 200, body: this.requests() };
    if (ctx.method === 'POST' && ctx.path === '/_sim/faults') {
      this.setFaults((ctx.body ?? {}) as OpenstackFaults);
      return { status: 200, body: this.model.faults };
    }
    // The tokens Keystone would still accept (a chaos fault revokes them through the real API).
    if (ctx.method === 'GET' && ctx.path === '/_sim/tokens')
      return { status: 200, body: { tokens: this.model.validTokenIds() } };
    if (ctx.method === 'POST' && ctx.path === '/_sim/expire-tokens') {
      this.model.expireAllTokens();
      return { status: 204 };
    }
    if (ctx.method === 'GET' && ctx.path === '/_sim/state')
      return {
        status: 200,
        body: {
          servers: [...this.model.servers.values()].map((s) => ({
            id: s.id,
            name: s.name,
            status: s.status,
          })),
          volumes: [...this.model.volumes.values()].map((v) => ({
            id: v.id,
            name: v.name,
            status: v.status,
          })),
          snapshots: [...this.model.snapshots.values()].map((s) => ({
            id: s.id,
            name: s.name,
            status: s.status,
          })),
          images: [...this.model.images.values()].map((i) => ({ id: i.id, name: i.name, status: i.status })),
        },
      };
    return { status: 404, body: { error: 'unknown control endpoint' } };
  }
}

function accepts(ctx: RequestContext, type: string): boolean {
  const a = header(ctx, 'accept');
  return a !== undefined && a.includes(type);
}
