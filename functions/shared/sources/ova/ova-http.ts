// The two requests the OVA source makes: a reachability probe (HEAD, or a one-byte ranged GET
// for servers that refuse HEAD) and the streamed download.
import axios, { type AxiosResponse } from 'axios';
import type { Readable } from 'node:stream';
import { DOWNLOAD_STALL_TIMEOUT_MS } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { watchForStall } from '../stall-watch.ts';
import { requestError, statusError } from './http-errors.ts';
import type { OvaHttpSettings } from './connection.ts';

const MAX_REDIRECTS = 10;

/** Our timeout plus the caller's cancel signal, telling afterwards which one fired. */
class RequestDeadline {
  readonly controller = new AbortController();
  timedOut = false;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly onOuterAbort = () => this.controller.abort(new SourceError('Aborted', 'cancelled'));
  constructor(
    timeoutMs: number,
    private readonly outer?: AbortSignal,
  ) {
    if (timeoutMs > 0) {
      this.timer = setTimeout(() => {
        this.timedOut = true;
        this.controller.abort(new Error('timeout'));
      }, timeoutMs);
    }
    if (outer?.aborted) this.onOuterAbort();
    else outer?.addEventListener('abort', this.onOuterAbort, { once: true });
  }
  get signal(): AbortSignal {
    return this.controller.signal;
  }
  get state(): { timedOut: boolean; aborted: boolean } {
    return { timedOut: this.timedOut, aborted: this.outer?.aborted ?? false };
  }
  dispose(): void {
    clearTimeout(this.timer);
    this.outer?.removeEventListener('abort', this.onOuterAbort);
  }
}

function request(
  settings: OvaHttpSettings,
  method: 'HEAD' | 'GET',
  signal: AbortSignal,
  headers: Record<string, string> = {},
): Promise<AxiosResponse<Readable>> {
  return axios.request<Readable>({
    url: settings.url,
    method,
    // The OVA is already compressed inside; ask for it as is. Should a server still apply a
    // Content-Encoding, axios removes it, so the tar (and the manifest digests) see the file.
    headers: { 'User-Agent': 'vm-import/ova', 'Accept-Encoding': 'identity', ...headers },
    responseType: 'stream',
    decompress: true,
    ...(settings.auth ? { auth: settings.auth } : {}),
    ...(settings.httpsAgent ? { httpsAgent: settings.httpsAgent } : {}),
    maxRedirects: MAX_REDIRECTS,
    validateStatus: () => true,
    signal,
    proxy: false,
  });
}

export interface ProbeResult {
  method: 'HEAD' | 'GET';
  status: number;
  /** Size of the OVA when the server says it. */
  sizeBytes?: number;
  acceptsRanges: boolean;
}

/** Statuses with which servers (and presigned URLs) refuse HEAD while allowing GET. */
const HEAD_REFUSED = new Set([403, 405, 501]);

/** Checks that the OVA can be fetched, without downloading it. */
export async function probeOva(settings: OvaHttpSettings, signal?: AbortSignal): Promise<ProbeResult> {
  const deadline = new RequestDeadline(settings.timeoutMs, signal);
  let method: 'HEAD' | 'GET' = 'HEAD';
  try {
    const head = await request(settings, 'HEAD', deadline.signal);
    head.data.destroy();
    if (head.status >= 200 && head.status < 400) return describe('HEAD', head);
    if (!HEAD_REFUSED.has(head.status)) throw statusError(settings, 'HEAD', head.status, head.statusText);
    method = 'GET';
    const get = await request(settings, 'GET', deadline.signal, { Range: 'bytes=0-0' });
    // A server that ignores Range answers 200 with the whole file: read none of it.
    get.data.destroy();
    if (get.status === 200 || get.status === 206) return describe('GET', get);
    throw statusError(settings, 'GET (after HEAD was refused)', get.status, get.statusText);
  } catch (err) {
    throw requestError(settings, method, err, deadline.state);
  } finally {
    deadline.dispose();
  }
}

function describe(method: 'HEAD' | 'GET', res: AxiosResponse<Readable>): ProbeResult {
  const range = /\/(\d+)\s*$/.exec(String(res.headers['content-range'] ?? ''));
  const length = Number(res.headers['content-length']);
  const sizeBytes =
    res.status === 206
      ? range
        ? Number(range[1])
        : undefined
      : Number.isFinite(length)
        ? length
        : undefined;
  return {
    method,
    status: res.status,
    ...(sizeBytes !== undefined ? { sizeBytes } : {}),
    acceptsRanges: res.status === 206 || /bytes/i.test(String(res.headers['accept-ranges'] ?? '')),
  };
}

export interface OvaDownload {
  body: Readable;
  sizeBytes?: number;
  /** Maps any error seen while reading the body to a SourceError (timeout, abort, network). */
  toSourceError(err: unknown): SourceError;
  /** Stops the timer; destroys the body if still open. */
  close(): void;
}

/** Starts the download; resolves once the status line says the body is the OVA. */
export async function openOvaDownload(
  settings: OvaHttpSettings,
  signal?: AbortSignal,
  stallTimeoutMs = DOWNLOAD_STALL_TIMEOUT_MS,
): Promise<OvaDownload> {
  const deadline = new RequestDeadline(settings.timeoutMs, signal);
  let res: AxiosResponse<Readable>;
  try {
    res = await request(settings, 'GET', deadline.signal);
  } catch (err) {
    deadline.dispose();
    throw requestError(settings, 'GET', err, deadline.state);
  }
  if (res.status !== 200) {
    res.data.destroy();
    deadline.dispose();
    throw statusError(settings, 'GET', res.status, res.statusText);
  }
  const body = watchForStall(
    res.data,
    stallTimeoutMs,
    () =>
      new SourceError(
        'Timeout',
        `GET ${settings.displayUrl} stalled: no data arrived for ${Math.round(stallTimeoutMs / 1000)} s; the download was stopped`,
        { retryable: true },
      ),
  );
  const destroyBody = () => body.destroy(new Error('download cancelled'));
  deadline.signal.addEventListener('abort', destroyBody, { once: true });
  const length = Number(res.headers['content-length']);
  return {
    body,
    ...(Number.isFinite(length) ? { sizeBytes: length } : {}),
    toSourceError: (err) => requestError(settings, 'GET', err, deadline.state),
    close: () => {
      deadline.signal.removeEventListener('abort', destroyBody);
      deadline.dispose();
      if (!body.destroyed) body.destroy();
    },
  };
}
