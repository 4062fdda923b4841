// Hostile API answers: an OpenStack cloud (Keystone, Nova) and a vCenter (SOAP) that answer with
// oversized, malformed or lying documents. Each case gets its own path prefix on one server, so
// the answers of one case never reach another.
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensurePki } from '../../local-cluster/pki.ts';
import { OpenstackClient } from '../../functions/shared/sources/openstack/client.ts';
import { connectionFromSpec } from '../../functions/shared/sources/openstack/connection.ts';
import { resolveVmwareConnection } from '../../functions/shared/sources/vmware/connection.ts';
import { withVimSession } from '../../functions/shared/sources/vmware/session.ts';
import type { HostileCase } from './case.ts';

const MiB = 1024 * 1024;
type Handler = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface ScriptedServer {
  base: string;
  /** Routes requests under /<id>/ to `handler`; returns the prefix URL. */
  route(id: string, handler: Handler): string;
  close(): Promise<void>;
}

async function scripted(tls: boolean): Promise<ScriptedServer & { caCertPem?: string }> {
  const routes = new Map<string, Handler>();
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const id = (req.url ?? '/').split('/')[1] ?? '';
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const h = routes.get(id);
      if (!h) return void res.writeHead(404).end();
      h(req, res, Buffer.concat(chunks).toString('utf8'));
    });
  };
  let caCertPem: string | undefined;
  let server;
  if (tls) {
    const pki = await ensurePki(join(tmpdir(), 'vm-import-hostile-pki'), ['127.0.0.1']);
    caCertPem = pki.caCertPem;
    server = createHttpsServer({ cert: pki.certPem, key: pki.keyPem }, listener);
  } else {
    server = createHttpServer(listener);
  }
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const base = `${tls ? 'https' : 'http'}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    base,
    ...(caCertPem ? { caCertPem } : {}),
    route: (id, handler) => {
      routes.set(id, handler);
      return `${base}/${id}`;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Streams `mib` MiB of filler inside a JSON string (or raw), without holding it. */
function streamFiller(res: ServerResponse, prefix: string, mib: number, suffix: string): void {
  const chunk = Buffer.alloc(MiB, 0x61);
  let left = mib;
  res.write(prefix);
  const more = () => {
    while (left > 0) {
      left--;
      if (!res.write(chunk)) return void res.once('drain', more);
    }
    res.end(suffix);
  };
  res.on('close', () => (left = 0));
  more();
}

// ---- OpenStack ----------------------------------------------------------------------------------

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) =>
  void res.writeHead(status, { 'Content-Type': 'application/json', ...headers }).end(JSON.stringify(body));

function catalog(prefix: string, region = 'RegionOne') {
  const ep = (type: string, path: string) => ({
    type,
    endpoints: [{ interface: 'public', region_id: region, region, url: `${prefix}${path}` }],
  });
  return [
    ep('compute', '/compute/v2.1'),
    ep('block-storage', '/volume/v3'),
    ep('image', '/image'),
    ep('network', '/network'),
  ];
}

interface CloudScript {
  keystone?: Handler;
  version?: Handler;
  servers?: Handler;
}

function cloud(prefix: string, script: CloudScript): Handler {
  return (req, res, body) => {
    const path = (req.url ?? '').slice(prefix.length);
    if (path.startsWith('/v3/auth/tokens'))
      return (
        script.keystone ??
        ((_q, r) =>
          json(r, 201, { token: { catalog: catalog(base(req, prefix)) } }, { 'X-Subject-Token': 't' }))
      )(req, res, body);
    if (path === '/compute/v2.1' || path === '/compute/v2.1/')
      return (
        script.version ?? ((_q, r) => json(r, 200, { version: { version: '2.79', min_version: '2.1' } }))
      )(req, res, body);
    if (path.startsWith('/compute/v2.1/servers'))
      return (script.servers ?? ((_q, r) => json(r, 200, { servers: [] })))(req, res, body);
    json(res, 404, { error: { message: 'not found' } });
  };
}

function base(req: IncomingMessage, prefix: string): string {
  return `http://${req.headers.host}${prefix}`;
}

const SECRET = { username: 'admin', password: 'pw', project_name: 'p', domain_name: 'Default' };

function openstackCase(
  name: string,
  expect: string,
  script: CloudScript,
): (s: ScriptedServer) => HostileCase {
  return (server) => ({
    kind: 'openstack-json',
    name,
    expect,
    run: async () => {
      const id = `os-${Math.random().toString(16).slice(2)}`;
      const prefix = `/${id}`;
      const url = server.route(id, cloud(prefix, script));
      const client = await OpenstackClient.connect(
        connectionFromSpec({ endpoint: `${url}/v3`, region: 'RegionOne' }, SECRET),
        { retries: 0, log: () => undefined },
      );
      return client.findServer('some-vm');
    },
  });
}

export const openstackCaseFactories = [
  openstackCase('a 200 MiB Keystone answer', 'ResponseTooLarge', {
    keystone: (_q, r) => {
      r.writeHead(201, { 'Content-Type': 'application/json', 'X-Subject-Token': 't' });
      streamFiller(r, '{"token":{"catalog":[],"x":"', 200, '"}}');
    },
  }),
  openstackCase('a 200 MiB Nova server list', 'ResponseTooLarge', {
    servers: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'application/json' });
      streamFiller(r, '{"servers":[],"x":"', 200, '"}');
    },
  }),
  openstackCase('Keystone answers HTML', 'OpenstackRequestFailed', {
    keystone: (_q, r) =>
      void r.writeHead(201, { 'Content-Type': 'text/html', 'X-Subject-Token': 't' }).end('<html>hi</html>'),
  }),
  openstackCase('Keystone answers without a token header', 'OpenstackRequestFailed', {
    keystone: (q, r) => json(r, 201, { token: { catalog: [] } }),
  }),
  openstackCase('a catalog that is not a list', 'OpenstackRequestFailed', {
    keystone: (_q, r) => json(r, 201, { token: { catalog: 'everything' } }, { 'X-Subject-Token': 't' }),
  }),
  openstackCase('a catalog without the region', 'RegionNotFound', {
    keystone: (q, r) =>
      json(r, 201, { token: { catalog: catalog('http://x', 'Elsewhere') } }, { 'X-Subject-Token': 't' }),
  }),
  openstackCase('a catalog without compute', 'ServiceNotFound', {
    keystone: (q, r) => {
      const c = catalog(`http://${q.headers.host}/${(q.url ?? '').split('/')[1]}`).filter(
        (e) => e.type !== 'compute',
      );
      json(r, 201, { token: { catalog: c } }, { 'X-Subject-Token': 't' });
    },
  }),
  openstackCase('Keystone 401', 'InvalidCredentials', {
    keystone: (_q, r) => json(r, 401, { error: { message: 'no' } }),
  }),
  openstackCase('Keystone 503 with a 1 MiB error page', 'OpenstackServiceError', {
    keystone: (_q, r) =>
      void r.writeHead(503, { 'Content-Type': 'text/html' }).end(`<p>${'x'.repeat(MiB)}</p>`),
  }),
  openstackCase('servers is a string', 'OpenstackRequestFailed', {
    servers: (_q, r) => json(r, 200, { servers: 'lots' }),
  }),
  openstackCase('servers is null', 'OpenstackRequestFailed', {
    servers: (_q, r) => json(r, 200, { servers: null }),
  }),
  openstackCase('servers hold no ids or names', 'ServerNotFound', {
    servers: (_q, r) => json(r, 200, { servers: [{ id: 1, name: null }, 'x', null] }),
  }),
  openstackCase('JSON nested 100 000 deep', 'OpenstackRequestFailed', {
    servers: (_q, r) =>
      void r
        .writeHead(200, { 'Content-Type': 'application/json' })
        .end(`${'['.repeat(100_000)}${']'.repeat(100_000)}`),
  }),
  (server: ScriptedServer): HostileCase => ({
    kind: 'openstack-json',
    name: 'credentials inside spec.endpoint',
    expect: 'InvalidSpec',
    run: async () =>
      OpenstackClient.connect(
        connectionFromSpec(
          { endpoint: `${server.base.replace('//', '//admin:pw@')}/v3`, region: 'RegionOne' },
          SECRET,
        ),
      ),
  }),
];

// ---- vCenter (SOAP) -----------------------------------------------------------------------------

const ENV_OPEN =
  '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>';
const ENV_CLOSE = '</soapenv:Body></soapenv:Envelope>';
const SERVICE_CONTENT = `${ENV_OPEN}<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><rootFolder type="Folder">group-d1</rootFolder><propertyCollector type="PropertyCollector">propertyCollector</propertyCollector><about><apiVersion>8.0.1.0</apiVersion></about><sessionManager type="SessionManager">SessionManager</sessionManager><searchIndex type="SearchIndex">SearchIndex</searchIndex></returnval></RetrieveServiceContentResponse>${ENV_CLOSE}`;
const LOGIN_OK = `${ENV_OPEN}<LoginResponse xmlns="urn:vim25"><returnval><key>k</key><userName>u</userName></returnval></LoginResponse>${ENV_CLOSE}`;
const fault = (name: string, text: string) =>
  `${ENV_OPEN}<soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>${text}</faultstring><detail><${name}Fault xmlns="urn:vim25" xsi:type="${name}"></${name}Fault></detail></soapenv:Fault>${ENV_CLOSE}`;

interface VcenterScript {
  serviceContent?: Handler;
  login?: Handler;
}

const xml = (res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}) =>
  void res.writeHead(status, { 'Content-Type': 'text/xml; charset=utf-8', ...headers }).end(body);

function vcenter(script: VcenterScript): Handler {
  return (req, res, body) => {
    if (body.includes('RetrieveServiceContent'))
      return (script.serviceContent ?? ((_q, r) => xml(r, 200, SERVICE_CONTENT)))(req, res, body);
    if (body.includes('<Login') || body.includes(':Login'))
      return (
        script.login ??
        ((_q, r) => xml(r, 200, LOGIN_OK, { 'Set-Cookie': 'vmware_soap_session="abc"; Path=/' }))
      )(req, res, body);
    xml(res, 500, fault('MethodNotFound', 'no'));
  };
}

function soapCase(
  name: string,
  expect: string,
  script: VcenterScript,
): (s: ScriptedServer & { caCertPem?: string }) => HostileCase {
  return (server) => ({
    kind: 'soap',
    name,
    expect,
    run: async () => {
      const id = `vc-${Math.random().toString(16).slice(2)}`;
      const url = server.route(id, vcenter(script));
      const conn = resolveVmwareConnection(
        { endpoint: `${url}/sdk` },
        { username: 'u', password: 'p', caCert: server.caCertPem },
      );
      return withVimSession(conn, async () => 'logged in');
    },
  });
}

export const soapCaseFactories = [
  soapCase('a 200 MiB ServiceContent', 'ResponseTooLarge', {
    serviceContent: (_q, r) => {
      r.writeHead(200, { 'Content-Type': 'text/xml' });
      streamFiller(
        r,
        `${ENV_OPEN}<RetrieveServiceContentResponse xmlns="urn:vim25"><returnval><x>`,
        200,
        `</x></returnval></RetrieveServiceContentResponse>${ENV_CLOSE}`,
      );
    },
  }),
  soapCase('malformed XML', 'VsphereRequestFailed', {
    serviceContent: (_q, r) => xml(r, 200, '<soapenv:Envelope><unclosed>'),
  }),
  soapCase('an HTML page', 'VsphereRequestFailed', {
    serviceContent: (_q, r) => xml(r, 200, '<html><body>login</body></html>'),
  }),
  soapCase('an empty 200 answer', 'VsphereRequestFailed', { serviceContent: (_q, r) => xml(r, 200, '') }),
  soapCase('HTTP 500 without SOAP', 'EndpointError', {
    serviceContent: (_q, r) => void r.writeHead(500).end('oops'),
  }),
  soapCase('HTTP 404', 'EndpointUnreachable', { serviceContent: (_q, r) => void r.writeHead(404).end() }),
  soapCase('a redirect to another host (not followed)', 'VsphereRequestFailed', {
    serviceContent: (_q, r) => void r.writeHead(302, { Location: 'http://169.254.169.254/' }).end(),
  }),
  soapCase('ServiceContent without rootFolder', 'VsphereRequestFailed', {
    serviceContent: (_q, r) => xml(r, 200, SERVICE_CONTENT.replace(/<rootFolder[^]*?<\/rootFolder>/, '')),
  }),
  soapCase('InvalidLogin fault', 'InvalidCredentials', {
    login: (_q, r) => xml(r, 500, fault('InvalidLogin', 'bad')),
  }),
  soapCase('Login without a session cookie', 'VsphereRequestFailed', {
    login: (_q, r) => xml(r, 200, LOGIN_OK),
  }),
  soapCase('an unknown fault', 'VsphereFault', {
    login: (_q, r) => xml(r, 500, fault('SomethingOdd', 'odd')),
  }),
  soapCase('a DOCTYPE entity expansion bomb', 'VsphereRequestFailed', {
    serviceContent: (_q, r) => {
      const ents = ['<!ENTITY a0 "lollollollollollollollollollol">'];
      for (let i = 1; i < 10; i++) ents.push(`<!ENTITY a${i} "${`&a${i - 1};`.repeat(10)}">`);
      xml(
        r,
        200,
        `<?xml version="1.0"?><!DOCTYPE e [${ents.join('')}]>${SERVICE_CONTENT.replace(/^<\?xml[^>]*>/, '')
          .replace('8.0.1.0', '&a9;')
          .replace(/<rootFolder[^]*?<\/rootFolder>/, '')}`,
      );
    },
  }),
];

export async function startApiServers() {
  const [openstack, vc] = await Promise.all([scripted(false), scripted(true)]);
  return { openstack, vcenter: vc };
}
