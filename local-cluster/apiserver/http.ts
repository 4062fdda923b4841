// The HTTPS front end: authentication, routing, content negotiation (JSON, Table,
// PartialObjectMetadata), and streaming watches, on top of the ObjectStore.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseYaml } from 'yaml';
import {
  AGGREGATED_DISCOVERY_CONTENT_TYPE,
  aggregatedDiscovery,
  coreVersions,
  group,
  groupList,
  resourceList,
  SERVER_VERSION,
  wantsAggregatedDiscovery,
} from './discovery.ts';
import { ApiError, badRequest, methodNotAllowed, unauthorized, unsupportedMediaType } from './errors.ts';
import type { OpenApiV3 } from './openapi.ts';
import { decodeProtobufObject, PROTOBUF_CONTENT_TYPE } from './protobuf.ts';
import { requestAttributes, type RbacAuthorizer } from './rbac.ts';
import { route } from './router.ts';
import type {
  DeleteOptions,
  FieldValidation,
  ObjectStore,
  PatchType,
  PropagationPolicy,
  WatchEvent,
  WriteOptions,
} from './store.ts';
import type { IncludeObject } from './table.ts';
import { toTable } from './table.ts';
import type { KubeObject, ResourceInfo } from './types.ts';

export interface Identity {
  user: string;
  groups?: string[];
}

export interface HttpContext {
  store: ObjectStore;
  openapi: OpenApiV3;
  tokens: Map<string, Identity>;
  serverAddress: string;
  /** Open watch streams, ended on shutdown. */
  watches: Set<() => void>;
  log?: (line: string) => void;
  /** Serves `pods/<name>/log` (kubectl logs) when the runtime registers one. */
  podLogs?: PodLogProvider;
  /** RBAC for service-account tokens (rbac.ts). */
  authorizer?: RbacAuthorizer;
}

export interface PodLogRequest {
  namespace: string;
  pod: string;
  container?: string;
  follow: boolean;
  tailLines?: number;
}

/** Returns the log text or a stream of it; undefined when the container has not started yet. */
export type PodLogProvider = (req: PodLogRequest) => Promise<string | NodeJS.ReadableStream | undefined>;

const MAX_BODY = 16 * 1024 * 1024;
const BOOKMARK_INTERVAL_MS = 10_000;
const MAX_WATCH_BACKLOG = 32 * 1024 * 1024;

type Output = { as: 'json' } | { as: 'table'; include: IncludeObject } | { as: 'partial' };

function negotiate(accept: string | undefined, includeObject: string | null): Output {
  const a = accept ?? '';
  const first = a.split(',')[0] ?? '';
  if (/as=Table/.test(first)) {
    const include = includeObject === 'None' || includeObject === 'Object' ? includeObject : 'Metadata';
    return { as: 'table', include };
  }
  if (/as=PartialObjectMetadata/.test(first)) return { as: 'partial' };
  return { as: 'json' };
}

function send(
  res: ServerResponse,
  code: number,
  body: unknown,
  headers: Record<string, string | string[]> = {},
): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

function sendError(res: ServerResponse, err: ApiError): void {
  send(res, err.code, err.toStatus());
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new ApiError(413, 'RequestEntityTooLarge', 'the request body is too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

function parseBody(raw: Buffer, contentType: string): unknown {
  if (contentType === PROTOBUF_CONTENT_TYPE && raw.length > 0) return decodeProtobufObject(raw);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    if (/yaml/.test(contentType)) return parseYaml(text) as unknown;
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw badRequest(
      `unable to decode the request body: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}

function patchTypeOf(contentType: string): PatchType {
  switch (contentType) {
    case 'application/merge-patch+json':
      return 'merge';
    case 'application/json-patch+json':
      return 'json';
    case 'application/strategic-merge-patch+json':
      return 'strategic';
    case 'application/apply-patch+yaml':
      return 'apply';
    default:
      throw unsupportedMediaType(contentType);
  }
}

function warningHeader(warnings: string[], ctx?: HttpContext): Record<string, string[]> {
  for (const w of warnings) ctx?.log?.(`warning: ${w}`);
  return warnings.length ? { Warning: warnings.map((w) => `299 - ${JSON.stringify(w)}`) } : {};
}

function partial(obj: KubeObject): object {
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: obj.metadata };
}

function authenticate(req: IncomingMessage, ctx: HttpContext, publicPath: boolean): Identity | undefined {
  const header = req.headers.authorization;
  if (!header) {
    if (publicPath) return { user: 'system:anonymous' };
    throw unauthorized();
  }
  const m = /^Bearer\s+(.+)$/i.exec(header);
  const identity = m ? ctx.tokens.get((m[1] as string).trim()) : undefined;
  if (!identity) throw unauthorized();
  return identity;
}

export function createHandler(ctx: HttpContext): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const started = Date.now();
    handle(req, res, ctx)
      .catch((err: unknown) => {
        if (err instanceof ApiError) {
          if (!res.headersSent) sendError(res, err);
          else res.end();
          return;
        }
        console.error('apiserver: internal error:', err);
        if (!res.headersSent) {
          sendError(
            res,
            new ApiError(
              500,
              'InternalError',
              `an error on the server has prevented the request from succeeding: ${err instanceof Error ? err.message : String(err)}`,
            ),
          );
        } else res.end();
      })
      .finally(() => ctx.log?.(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: HttpContext): Promise<void> {
  const url = new URL(req.url ?? '/', 'https://apiserver');
  const r = route(url.pathname, ctx.store.registry);
  const publicPath = r.type === 'version' || r.type === 'health';
  const identity = authenticate(req, ctx, publicPath);
  const method = req.method ?? 'GET';
  if (r.type !== 'resource' && method !== 'GET' && method !== 'HEAD')
    throw methodNotAllowed(`the server does not allow this method on the requested resource`);
  const registry = ctx.store.registry;
  switch (r.type) {
    case 'version':
      return send(res, 200, SERVER_VERSION);
    case 'health':
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('ok');
      return;
    case 'coreVersions':
      if (wantsAggregatedDiscovery(req.headers.accept)) {
        return send(res, 200, aggregatedDiscovery(registry, true), {
          'Content-Type': AGGREGATED_DISCOVERY_CONTENT_TYPE,
        });
      }
      return send(res, 200, coreVersions(ctx.serverAddress));
    case 'groupList':
      if (wantsAggregatedDiscovery(req.headers.accept)) {
        return send(res, 200, aggregatedDiscovery(registry, false), {
          'Content-Type': AGGREGATED_DISCOVERY_CONTENT_TYPE,
        });
      }
      return send(res, 200, groupList(registry));
    case 'group': {
      const doc = group(registry, r.group);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return send(res, 200, doc);
    }
    case 'resourceList': {
      const doc = resourceList(registry, r.group, r.version);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      return send(res, 200, doc);
    }
    case 'openapiV2':
      // Only OpenAPI v3 is served; kubectl 1.32 uses v3 for explain, validation and apply.
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    case 'openapiV3Root':
      return send(res, 200, ctx.openapi.root());
    case 'openapiV3Doc': {
      const doc = ctx.openapi.document(r.path);
      if (!doc) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
      const immutable = url.searchParams.get('hash') === doc.hash;
      return send(res, 200, doc.body, {
        'Cache-Control': immutable ? 'public, immutable' : 'no-cache, private',
        Etag: `"${doc.hash}"`,
      });
    }
    case 'unknown':
      throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    case 'resource':
      return handleResource(req, res, ctx, r, url, method, identity);
  }
}

async function handleResource(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpContext,
  r: Extract<ReturnType<typeof route>, { type: 'resource' }>,
  url: URL,
  method: string,
  identity?: Identity,
): Promise<void> {
  const store = ctx.store;
  const info = store.registry.byResource(r.group, r.version, r.resource);
  if (!info) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  if (ctx.authorizer && identity) ctx.authorizer.check(identity, requestAttributes(r, info, url, method));
  if (
    r.subresource !== undefined &&
    r.subresource !== 'status' &&
    !(r.subresource === 'finalize' && info.resource === 'namespaces') &&
    !(r.subresource === 'log' && info.group === '' && info.resource === 'pods')
  ) {
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  }
  if (r.subresource === 'status' && !info.statusSubresource)
    throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
  const q = url.searchParams;
  if (r.subresource === 'log') {
    if (method !== 'GET') throw methodNotAllowed('pods/log supports GET only');
    return servePodLog(res, ctx, r.namespace as string, r.name as string, q);
  }
  const output = negotiate(req.headers.accept, q.get('includeObject'));
  const namespace = info.namespaced ? r.namespace : undefined;
  const contentType = (req.headers['content-type'] ?? 'application/json').split(';')[0]?.trim() ?? '';
  const warnings: string[] = [];
  const writeOpts = (): WriteOptions => {
    const fv = q.get('fieldValidation');
    const opts: WriteOptions = { warnings, dryRun: q.getAll('dryRun').includes('All') };
    if (fv === 'Strict' || fv === 'Warn' || fv === 'Ignore') opts.fieldValidation = fv as FieldValidation;
    else if (fv) throw badRequest(`fieldValidation must be one of Ignore, Warn, Strict; got ${fv}`);
    if (r.subresource === 'status') opts.subresource = 'status';
    const manager = q.get('fieldManager');
    if (manager) opts.fieldManager = manager;
    return opts;
  };
  const render = (obj: KubeObject): unknown => {
    if (output.as === 'table') return toTable(info, [obj], { include: output.include });
    if (output.as === 'partial') return partial(obj);
    return obj;
  };

  switch (method) {
    case 'GET':
    case 'HEAD': {
      if (r.name !== undefined && !r.watchPath && q.get('watch') === null) {
        return send(res, 200, render(store.get(info, namespace, r.name)));
      }
      const listOpts = {
        namespace,
        labelSelector: q.get('labelSelector') ?? undefined,
        fieldSelector: combineNameSelector(q.get('fieldSelector'), r.watchPath ? r.name : undefined),
      };
      if (r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1') {
        return serveWatch(req, res, ctx, info, output, {
          ...listOpts,
          resourceVersion: q.get('resourceVersion') ?? '',
          sendInitialEvents: q.get('sendInitialEvents') === 'true',
          allowBookmarks: q.get('allowWatchBookmarks') === 'true',
          timeoutSeconds: q.get('timeoutSeconds') ? Number(q.get('timeoutSeconds')) : undefined,
        });
      }
      const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
      const list = store.list(info, { ...listOpts, limit, continue: q.get('continue') ?? undefined });
      if (output.as === 'table')
        return send(
          res,
          200,
          toTable(info, list.items, { include: output.include, listMeta: list.metadata }),
        );
      if (output.as === 'partial') {
        return send(res, 200, {
          kind: 'PartialObjectMetadataList',
          apiVersion: 'meta.k8s.io/v1',
          metadata: list.metadata,
          items: list.items.map(partial),
        });
      }
      return send(res, 200, list);
    }
    case 'POST': {
      if (r.name !== undefined) throw methodNotAllowed('POST is not allowed on a named resource');
      const body = parseBody(await readBody(req), contentType) as KubeObject | undefined;
      if (!body || typeof body !== 'object') throw badRequest('the request body must be an object');
      if (ctx.authorizer && identity) ctx.authorizer.checkBinding(identity, info, body, r.namespace);
      body.metadata ??= {};
      if (info.namespaced) {
        if (body.metadata.namespace && r.namespace && body.metadata.namespace !== r.namespace) {
          throw badRequest(
            'the namespace of the provided object does not match the namespace sent on the request',
          );
        }
        body.metadata.namespace = r.namespace ?? body.metadata.namespace;
      }
      const created = store.create(info, body, writeOpts());
      return send(res, 201, render(created), warningHeader(warnings, ctx));
    }
    case 'PUT': {
      if (r.name === undefined) throw methodNotAllowed('PUT requires a resource name');
      const body = parseBody(await readBody(req), contentType) as KubeObject | undefined;
      if (!body || typeof body !== 'object') throw badRequest('the request body must be an object');
      if (ctx.authorizer && identity) ctx.authorizer.checkBinding(identity, info, body, r.namespace);
      body.metadata ??= {};
      if (body.metadata.name && body.metadata.name !== r.name) {
        throw badRequest(
          `the name of the object (${body.metadata.name}) does not match the name on the URL (${r.name})`,
        );
      }
      if (info.namespaced && body.metadata.namespace && body.metadata.namespace !== r.namespace) {
        throw badRequest(
          'the namespace of the provided object does not match the namespace sent on the request',
        );
      }
      body.metadata.name = r.name;
      if (info.namespaced) body.metadata.namespace = r.namespace;
      const updated = store.update(info, body, writeOpts());
      return send(res, 200, render(updated), warningHeader(warnings, ctx));
    }
    case 'PATCH': {
      if (r.name === undefined) throw methodNotAllowed('PATCH requires a resource name');
      const type = patchTypeOf(contentType);
      const body = parseBody(await readBody(req), type === 'apply' ? 'yaml' : 'json');
      if (body === undefined) throw badRequest('the patch body is empty');
      const patched = store.patch(info, namespace, r.name, type, body, writeOpts());
      return send(res, 200, render(patched), warningHeader(warnings, ctx));
    }
    case 'DELETE': {
      const body = parseBody(await readBody(req), 'json') as
        | {
            propagationPolicy?: PropagationPolicy;
            orphanDependents?: boolean;
            preconditions?: DeleteOptions['preconditions'];
            dryRun?: string[];
          }
        | undefined;
      const opts: DeleteOptions = {
        dryRun: q.getAll('dryRun').includes('All') || (body?.dryRun ?? []).includes('All'),
      };
      const policy =
        q.get('propagationPolicy') ??
        body?.propagationPolicy ??
        (body?.orphanDependents === true || q.get('orphanDependents') === 'true' ? 'Orphan' : undefined);
      if (policy !== undefined) {
        if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan')
          throw badRequest(`propagationPolicy ${policy} is not supported`);
        opts.propagationPolicy = policy;
      }
      if (body?.preconditions) opts.preconditions = body.preconditions;
      if (r.name === undefined) {
        const list = store.deleteCollection(
          info,
          {
            namespace,
            labelSelector: q.get('labelSelector') ?? undefined,
            fieldSelector: q.get('fieldSelector') ?? undefined,
          },
          opts,
        );
        return send(res, 200, list);
      }
      const result = store.delete(info, namespace, r.name, opts);
      const pending =
        result.metadata.deletionTimestamp !== undefined &&
        store.list(info, { namespace, fieldSelector: `metadata.name=${r.name}` }).items.length > 0;
      return send(res, pending ? 202 : 200, render(result));
    }
    default:
      throw methodNotAllowed(`${method} is not supported`);
  }
}

function combineNameSelector(fieldSelector: string | null, name: string | undefined): string | undefined {
  const parts = [fieldSelector, name !== undefined ? `metadata.name=${name}` : null].filter(
    (p): p is string => !!p,
  );
  return parts.length ? parts.join(',') : undefined;
}

interface HttpWatchOptions {
  namespace: string | undefined;
  labelSelector: string | undefined;
  fieldSelector: string | undefined;
  resourceVersion: string;
  sendInitialEvents: boolean;
  allowBookmarks: boolean;
  timeoutSeconds: number | undefined;
}

function serveWatch(
  req: IncomingMessage,
  res: ServerResponse,
  ctx: HttpContext,
  info: ResourceInfo,
  output: Output,
  opts: HttpWatchOptions,
): void {
  let headerSent = false;
  const encode = (event: WatchEvent | { type: 'BOOKMARK' | 'ERROR'; object: unknown }): string => {
    let object: unknown = event.object;
    if (
      (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED') &&
      output.as !== 'json'
    ) {
      const obj = event.object as KubeObject;
      if (output.as === 'table') {
        object = toTable(info, [obj], { include: output.include, noHeaders: headerSent });
        headerSent = true;
      } else object = partial(obj);
    }
    return `${JSON.stringify({ type: event.type, object })}\n`;
  };
  const buffered: string[] = [];
  let started = false;
  let finish: () => void = () => {};
  const write = (line: string): void => {
    if (!started) buffered.push(line);
    else if (res.writableLength > MAX_WATCH_BACKLOG) {
      // a client that stops reading is cut off (it re-watches from its last resourceVersion)
      // instead of buffering without bound, as the real API server does with slow watchers
      finish();
    } else res.write(line);
  };
  let watch;
  try {
    watch = ctx.store.watch(info, opts, (event) => write(encode(event)));
  } catch (err) {
    if (err instanceof ApiError && err.code === 410) {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private' });
      res.end(encode({ type: 'ERROR', object: err.toStatus() }));
      return;
    }
    throw err;
  }
  res.writeHead(200, {
    'Content-Type': 'application/json',
    'Cache-Control': 'no-cache, private',
    'Transfer-Encoding': 'chunked',
  });
  res.flushHeaders();
  started = true;
  for (const line of buffered) res.write(line);
  const bookmark = (initialEnd: boolean): void => {
    const metadata: Record<string, unknown> = { resourceVersion: ctx.store.currentResourceVersion() };
    if (initialEnd) metadata['annotations'] = { 'k8s.io/initial-events-end': 'true' };
    const kind =
      output.as === 'json'
        ? { apiVersion: info.group ? `${info.group}/${info.version}` : info.version, kind: info.kind }
        : { apiVersion: 'meta.k8s.io/v1', kind: output.as === 'table' ? 'Table' : 'PartialObjectMetadata' };
    res.write(encode({ type: 'BOOKMARK', object: { ...kind, metadata } }));
  };
  if (opts.sendInitialEvents && opts.allowBookmarks) bookmark(true);
  const timers: NodeJS.Timeout[] = [];
  if (opts.allowBookmarks) timers.push(setInterval(() => bookmark(false), BOOKMARK_INTERVAL_MS));
  const timeoutMs = (opts.timeoutSeconds ?? 1800 * (1 + Math.random())) * 1000;
  let finished = false;
  finish = (): void => {
    if (finished) return;
    finished = true;
    watch.stop();
    for (const t of timers) clearInterval(t);
    ctx.watches.delete(finish);
    res.end();
  };
  timers.push(setTimeout(finish, timeoutMs));
  ctx.watches.add(finish);
  req.on('close', finish);
  res.on('close', finish);
}

async function servePodLog(
  res: ServerResponse,
  ctx: HttpContext,
  namespace: string,
  pod: string,
  q: URLSearchParams,
): Promise<void> {
  ctx.store.get({ apiVersion: 'v1', kind: 'Pod' }, namespace, pod);
  const container = q.get('container') ?? undefined;
  if (!ctx.podLogs)
    throw badRequest(
      `logs of pod "${pod}" are not available: no log provider is registered with this API server`,
    );
  const tail = q.get('tailLines');
  const out = await ctx.podLogs({
    namespace,
    pod,
    follow: q.get('follow') === 'true',
    ...(container ? { container } : {}),
    ...(tail ? { tailLines: Number(tail) } : {}),
  });
  if (out === undefined) {
    throw badRequest(
      `container "${container ?? pod}" in pod "${pod}" is waiting to start: ContainerCreating`,
    );
  }
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
  if (typeof out === 'string') {
    res.end(out);
    return;
  }
  res.on('close', () => (out as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.());
  out.pipe(res);
}
