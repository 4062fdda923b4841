// The part of the kubelet's HTTPS API that `kubectl logs` reaches through the API server:
// GET /containerLogs/{namespace}/{pod}/{container}?follow&previous&tailLines&limitBytes&
// sinceSeconds&sinceTime&timestamps (pkg/kubelet/server/server.go getContainerLogs).
// Served with the Node's certificate (the API server verifies it against the cluster CA,
// --kubelet-certificate-authority); clients authenticate with a certificate of that CA and are
// authorized as the kubelet does it: a SubjectAccessReview for get nodes/proxy on this node
// (pkg/kubelet/server/auth.go: every path outside /stats, /metrics, /logs, /spec is "proxy").
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { readContainerLog, readContainerLogFrom, type LogOptions } from './container-logs.ts';

/** Where a container's log is, or why there is none (the message the kubelet gives). */
export type LogLookup = { file: string; running: () => boolean } | { status: number; message: string };

export interface KubeletApiOptions {
  /** The node's address (its InternalIP), where the API server reaches the kubelet. */
  address: string;
  nodeName: string;
  certPem: string;
  keyPem: string;
  caPem: string;
  findLog(namespace: string, pod: string, container: string, previous: boolean): Promise<LogLookup>;
  /** SubjectAccessReview: may `user` (with `groups`) get nodes/proxy on this node? */
  authorize(user: string, groups: string[]): Promise<boolean>;
  log(message: string, fields?: Record<string, unknown>): void;
}

function logOptions(query: URLSearchParams): LogOptions | string {
  const int = (name: string): number | undefined => {
    const v = query.get(name);
    if (v === null) return undefined;
    const n = Number(v);
    return Number.isInteger(n) && n >= 0 ? n : Number.NaN;
  };
  const tailLines = int('tailLines');
  const limitBytes = int('limitBytes');
  const sinceSeconds = int('sinceSeconds');
  if ([tailLines, limitBytes, sinceSeconds].some((n) => Number.isNaN(n)))
    return 'tailLines, limitBytes and sinceSeconds must be non-negative integers';
  const sinceTimeText = query.get('sinceTime');
  const sinceTime = sinceTimeText
    ? new Date(sinceTimeText)
    : sinceSeconds !== undefined
      ? new Date(Date.now() - sinceSeconds * 1000)
      : undefined;
  if (sinceTime && Number.isNaN(sinceTime.getTime())) return 'sinceTime must be an RFC 3339 time';
  return { tailLines, limitBytes, sinceTime, timestamps: query.get('timestamps') === 'true' };
}

const truthy = (v: string | null) => v === 'true' || v === '1';

export async function startKubeletApi(opts: KubeletApiOptions): Promise<{ server: Server; port: number }> {
  const server = createServer(
    { cert: opts.certPem, key: opts.keyPem, ca: opts.caPem, requestCert: true, rejectUnauthorized: false },
    (req, res) => {
      void handle(req, res).catch((err: unknown) => {
        opts.log('kubelet API request failed', { url: req.url, error: String(err) });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`internal error: ${err instanceof Error ? err.message : String(err)}\n`);
      });
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const socket = req.socket as TLSSocket;
    const cert = socket.authorized ? socket.getPeerCertificate() : undefined;
    if (!cert?.subject) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('Unauthorized\n');
      return;
    }
    const org = cert.subject.O;
    const groups = [...(Array.isArray(org) ? org : org ? [org] : []), 'system:authenticated'];
    const user = (Array.isArray(cert.subject.CN) ? cert.subject.CN[0] : cert.subject.CN) ?? '';
    if (!(await opts.authorize(user, groups))) {
      res
        .writeHead(403, { 'content-type': 'text/plain' })
        .end(`Forbidden (user=${user}, verb=get, resource=nodes, subresource=proxy)\n`);
      return;
    }
    const url = new URL(req.url ?? '/', 'https://kubelet');
    const m = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const [namespace, pod, container] = m.slice(1).map(decodeURIComponent) as [string, string, string];
    const options = logOptions(url.searchParams);
    if (typeof options === 'string') {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`${options}\n`);
      return;
    }
    const found = await opts.findLog(namespace, pod, container, truthy(url.searchParams.get('previous')));
    if ('status' in found) {
      res.writeHead(found.status, { 'content-type': 'text/plain' }).end(`${found.message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'transfer-encoding': 'chunked' });
    let budget = options.limitBytes ?? Number.POSITIVE_INFINITY;
    const send = (text: string): boolean => {
      if (budget <= 0) return false;
      const buf = Buffer.from(text);
      const part = buf.length > budget ? buf.subarray(0, budget) : buf;
      budget -= part.length;
      if (part.length) res.write(part);
      return budget > 0;
    };
    let { text, offset } = await readContainerLog(found.file, options);
    let more = send(text);
    const follow = truthy(url.searchParams.get('follow'));
    let ended = more ? 'read' : 'limit-bytes';
    if (follow) {
      let closed = false;
      res.on('close', () => (closed = true));
      // Until the client goes or the container ends (the kubelet's follow stops at exit).
      while (more && !closed) {
        const wasRunning = found.running();
        ({ text, offset } = await readContainerLogFrom(found.file, offset, options));
        more = send(text);
        if (!wasRunning && !text) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      ended = closed ? 'client closed' : more ? 'container exited' : 'limit-bytes';
    }
    opts.log('container log served', { pod: `${namespace}/${pod}`, container, follow, offset, ended });
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, opts.address, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the kubelet API has no port');
  return { server, port: address.port };
}
