// An authenticated session with one cloud: Keystone v3 password auth scoped to the project, the
// service catalog of the configured region, Nova microversion negotiation, and re-authentication
// when a token expires during long waits (401 → authenticate once → retry).
import { AxiosError, type AxiosInstance, type AxiosRequestConfig, type AxiosResponse } from 'axios';
import { SourceError } from '../source-error.ts';
import {
  keystoneV3Candidates,
  passwordAuthBody,
  selectEndpoint,
  versioned,
  type CatalogEntry,
  type ServiceName,
} from './catalog.ts';
import type { OpenstackConnection } from './connection.ts';
import { createHttpClient, displayUrl, httpError, transportError, type HttpOptions } from './http.ts';

/** Highest Nova microversion this client is written for: server description (2.19), image_id in
 * the createImage body (2.45), flavor embedded in the server (2.47). Older clouds still work. */
export const NOVA_WANTED = { major: 2, minor: 79 };

export function parseVersion(text: string | undefined): { major: number; minor: number } | undefined {
  const m = /^(\d+)\.(\d+)$/.exec((text ?? '').trim());
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : undefined;
}

/** The microversion to request: ours, capped at the cloud's maximum; undefined = no microversions. */
export function chooseNovaMicroversion(min: string | undefined, max: string | undefined): string | undefined {
  const hi = parseVersion(max);
  if (!hi) return undefined;
  const lo = parseVersion(min) ?? { major: 2, minor: 1 };
  const want = NOVA_WANTED;
  const cmp = (a: typeof want, b: typeof want) => a.major - b.major || a.minor - b.minor;
  const pick = cmp(want, hi) > 0 ? hi : want;
  if (cmp(pick, lo) < 0) return undefined;
  return `${pick.major}.${pick.minor}`;
}

export interface SessionOptions extends HttpOptions {
  http?: AxiosInstance;
}

export interface ServiceRequest extends AxiosRequestConfig {
  /** What the request does, for error messages ("listing servers"). */
  what: string;
}

export class OpenstackSession {
  readonly http: AxiosInstance;
  private token: string | undefined;
  private catalog: CatalogEntry[] = [];
  private identityUrl: string | undefined;
  private novaMicroversion: string | undefined;
  private reauths = 0;

  constructor(
    readonly connection: OpenstackConnection,
    options: SessionOptions = {},
  ) {
    this.http = options.http ?? createHttpClient(connection.credentials, options);
  }

  /** How many times the session re-authenticated after a 401 (for logs and tests). */
  get reauthentications(): number {
    return this.reauths;
  }

  get computeMicroversion(): string | undefined {
    return this.novaMicroversion;
  }

  async authenticate(): Promise<void> {
    const url = `${keystoneV3Candidates(this.connection.endpoint)[0]}/auth/tokens`;
    let res: AxiosResponse;
    try {
      res = await this.http.post(url, passwordAuthBody(this.connection.credentials), {
        headers: { 'Content-Type': 'application/json' },
      });
    } catch (err) {
      throw this.failure(err, 'authenticating with Keystone', url);
    }
    if (res.status === 401 || res.status === 403)
      throw new SourceError(
        'InvalidCredentials',
        `Keystone rejected the credentials of user "${this.connection.credentials.username}" for project "${this.connection.credentials.projectName}" in domain "${this.connection.credentials.domainName}" (HTTP ${res.status}).`,
      );
    if (res.status === 404)
      throw new SourceError(
        'EndpointUnreachable',
        `No Keystone v3 API at ${displayUrl(url)}: check spec.endpoint (e.g. https://keystone.example.com:5000/v3 or https://cloud.example.com/identity).`,
      );
    if (res.status !== 201 && res.status !== 200)
      throw httpError(res.status, res.data, 'Keystone authentication');
    const token = res.headers['x-subject-token'] as string | undefined;
    const catalog = (res.data as { token?: { catalog?: CatalogEntry[] } })?.token?.catalog;
    if (!token || !Array.isArray(catalog))
      throw new SourceError(
        'OpenstackRequestFailed',
        'Keystone answered without a token or a service catalog.',
      );
    this.token = token;
    this.catalog = catalog;
    this.identityUrl = url;
  }

  /** Public URL of a service in the configured region (RegionNotFound lists the regions there are). */
  endpoint(service: ServiceName): string {
    const url = selectEndpoint(this.catalog, service, this.connection.region);
    if (service === 'image') return versioned(url, 'v2');
    if (service === 'network') return versioned(url, 'v2.0');
    return url;
  }

  /** Headers that authorize a request another program makes (the bench's Go downloads). */
  async authHeaders(): Promise<Record<string, string>> {
    if (!this.token) await this.authenticate();
    return { 'X-Auth-Token': this.token! };
  }

  /** Reads Nova's version document and picks the microversion to send with every compute call. */
  async negotiateCompute(): Promise<void> {
    const url = this.endpoint('compute');
    const res = await this.raw({ method: 'GET', url, what: 'reading the Compute API version' });
    if (res.status !== 200) throw httpError(res.status, res.data, 'Reading the Compute API version');
    const v = (res.data as { version?: { min_version?: string; version?: string } }).version;
    this.novaMicroversion = chooseNovaMicroversion(v?.min_version, v?.version);
  }

  /**
   * A request to `service` (path relative to its endpoint). Adds the token and the microversion;
   * on 401 authenticates again once and retries. Returns every HTTP answer; throws SourceErrors
   * for transport failures only.
   */
  async call<T = unknown>(
    service: ServiceName,
    path: string,
    req: ServiceRequest,
  ): Promise<AxiosResponse<T>> {
    const url = `${this.endpoint(service)}${path}`;
    const headers: Record<string, string> = { ...(req.headers as Record<string, string>) };
    if (service === 'compute' && this.novaMicroversion)
      headers['OpenStack-API-Version'] = `compute ${this.novaMicroversion}`;
    return this.raw<T>({ ...req, url, headers });
  }

  private async raw<T>(req: ServiceRequest): Promise<AxiosResponse<T>> {
    if (!this.token) await this.authenticate();
    const send = (): Promise<AxiosResponse<T>> =>
      this.http.request<T>({ ...req, headers: { ...(req.headers as object), 'X-Auth-Token': this.token! } });
    let res = await this.send(send, req);
    if (res.status === 401) {
      (res.data as { destroy?: () => void } | undefined)?.destroy?.();
      this.reauths++;
      await this.authenticate();
      res = await this.send(send, req);
    }
    return res;
  }

  private async send<T>(
    send: () => Promise<AxiosResponse<T>>,
    req: ServiceRequest,
  ): Promise<AxiosResponse<T>> {
    try {
      return await send();
    } catch (err) {
      // After the retries, a 5xx answer arrives as an AxiosError that still carries the response.
      if (err instanceof AxiosError && err.response) return err.response as AxiosResponse<T>;
      throw this.failure(err, req.what, req.url ?? '');
    }
  }

  private failure(err: unknown, what: string, url: string): SourceError {
    if (err instanceof AxiosError && err.response)
      return httpError(err.response.status, err.response.data, what);
    return transportError(err, what, url);
  }

  /** Keystone URL in use (for messages). */
  get identity(): string | undefined {
    return this.identityUrl;
  }
}
