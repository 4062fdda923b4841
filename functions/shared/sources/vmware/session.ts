// vim25 sessions over node-soap: one logged-in session per (endpoint, username), reused while
// valid, re-created when the credentials change or vCenter answers NotAuthenticated.
import axios from 'axios';
import { createHash } from 'node:crypto';
import type { Agent } from 'node:https';
import { fileURLToPath } from 'node:url';
import { createClientAsync, type Client, type IOptions } from 'soap';
import { MAX_SOAP_RESPONSE_BYTES } from '../../limits.ts';
import { SourceError } from '../source-error.ts';
import { httpsAgentFor, type VmwareConnection } from './connection.ts';
import { transportProblemOf } from '../transport-errors.ts';
import { vimFaultOf } from './faults.ts';
import { isNode, moRefArg, toMoRef, type MoRef } from './soap-values.ts';

const WSDL = fileURLToPath(new URL('./vim25-subset.wsdl', import.meta.url));
const CALL_TIMEOUT_MS = 120_000;

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  sessionManager: MoRef;
  searchIndex: MoRef;
  apiVersion: string;
}

export interface VimSession {
  readonly conn: VmwareConnection;
  readonly content: ServiceContent;
  readonly agent: Agent;
  /** The `vmware_soap_session` cookie; also authorizes NFC downloads. Never log it. */
  readonly cookie: string;
  readonly client: Client;
}

type SoapArgs = Record<string, unknown>;

/** Reason of the SourceError thrown when vCenter no longer knows the session. */
const NOT_AUTHENTICATED = 'NotAuthenticated';

export function sourceErrorFromCall(err: unknown, conn: VmwareConnection, operation: string): SourceError {
  if (err instanceof SourceError) return err;
  if (/maxContentLength size of \d+ exceeded/.test((err as Error | undefined)?.message ?? ''))
    return new SourceError(
      'ResponseTooLarge',
      `the answer of ${conn.endpoint} to ${operation} is larger than the ${MAX_SOAP_RESPONSE_BYTES} bytes accepted; it was not read`,
    );
  const fault = vimFaultOf(err);
  if (fault) {
    if (fault.name === 'InvalidLogin')
      return new SourceError(
        'InvalidCredentials',
        `login to ${conn.endpoint} as "${conn.username}" failed: wrong user name or password (keys "username"/"password" of the credentials Secret)`,
      );
    if (fault.name === NOT_AUTHENTICATED)
      return new SourceError(NOT_AUTHENTICATED, `the vCenter session expired during ${operation}`, {
        retryable: true,
      });
    return new VimFaultError(
      fault.name,
      `${operation} failed: ${fault.name}${fault.message ? `: ${fault.message}` : ''}`,
    );
  }
  const problem = transportProblemOf(err);
  switch (problem.kind) {
    case 'tls-verify':
    case 'tls-handshake':
      return new SourceError(
        'TlsVerificationFailed',
        conn.caCertPem
          ? `TLS verification of ${conn.endpoint} failed (${problem.code}): its certificate is not signed by the CA in key "caCert" of the credentials Secret (or does not match the host name)`
          : `TLS verification of ${conn.endpoint} failed (${problem.code}): its certificate is not trusted by the system CAs; put the CA that signed it (PEM) in key "caCert" of the credentials Secret, or set key "insecureSkipVerify" to "true" to opt out of verification`,
      );
    case 'unreachable':
      return new SourceError('EndpointUnreachable', `cannot reach ${conn.endpoint} (${problem.code})`, {
        retryable: true,
      });
    case 'http':
      if (problem.status < 300)
        return new SourceError(
          'VsphereRequestFailed',
          `${conn.endpoint} answered ${operation} with a document that is not a vSphere SOAP response; is spec.endpoint the vSphere SDK URL (https://<vcenter>/sdk)?`,
        );
      return new SourceError(
        problem.status >= 500 ? 'EndpointError' : 'EndpointUnreachable',
        `${conn.endpoint} answered HTTP ${problem.status} to ${operation}; is spec.endpoint the vSphere SDK URL (https://<vcenter>/sdk)?`,
        { retryable: problem.status >= 500 || problem.status === 429 },
      );
    case 'aborted':
      return new SourceError('Aborted', `${operation} was aborted`);
    default:
      return new SourceError(
        'VsphereRequestFailed',
        `${operation} on ${conn.endpoint} failed: ${problem.message}`,
        {
          retryable: true,
        },
      );
  }
}

/** A vSphere fault (InvalidPowerState, ToolsUnavailable, ...) returned by a method. */
export class VimFaultError extends SourceError {
  readonly fault: string;
  constructor(fault: string, message: string) {
    super('VsphereFault', message);
    this.fault = fault;
  }
}

export function isVimFault(err: unknown, ...names: string[]): err is VimFaultError {
  return err instanceof VimFaultError && names.includes(err.fault);
}

async function rawCall(client: Client, operation: string, args: SoapArgs, cookie?: string): Promise<unknown> {
  const method = (client as unknown as Record<string, unknown>)[`${operation}Async`];
  if (typeof method !== 'function') throw new Error(`operation ${operation} is not in vim25-subset.wsdl`);
  const [result] = (await (method as (a: SoapArgs, o: object, h: object) => Promise<unknown[]>).call(
    client,
    args,
    { timeout: CALL_TIMEOUT_MS },
    cookie ? { Cookie: cookie } : {},
  )) as [unknown];
  return isNode(result) ? result.returnval : undefined;
}

function requireRef(node: unknown, what: string): MoRef {
  const ref = toMoRef(node);
  if (!ref)
    throw new SourceError(
      'VsphereRequestFailed',
      `the endpoint returned no ${what}; is it a vCenter or ESXi host?`,
    );
  return ref;
}

async function login(conn: VmwareConnection): Promise<VimSession> {
  const agent = httpsAgentFor(conn);
  const client = await createClientAsync(WSDL, {
    endpoint: conn.endpoint,
    // node-soap types axios through its CommonJS typings; the instance is the same at runtime.
    request: axios.create({
      httpsAgent: agent,
      maxRedirects: 0,
      // Every answer is parsed in memory: bounded.
      maxContentLength: MAX_SOAP_RESPONSE_BYTES,
    }) as unknown as IOptions['request'],
  });
  try {
    const content = (await rawCall(client, 'RetrieveServiceContent', {
      _this: moRefArg({ type: 'ServiceInstance', value: 'ServiceInstance' }),
    })) as Record<string, unknown> | undefined;
    const serviceContent: ServiceContent = {
      rootFolder: requireRef(content?.rootFolder, 'rootFolder'),
      propertyCollector: requireRef(content?.propertyCollector, 'propertyCollector'),
      sessionManager: requireRef(content?.sessionManager, 'sessionManager'),
      searchIndex: requireRef(content?.searchIndex, 'searchIndex'),
      apiVersion: String((content?.about as Record<string, unknown> | undefined)?.apiVersion ?? ''),
    };
    await rawCall(client, 'Login', {
      _this: moRefArg(serviceContent.sessionManager),
      userName: conn.username,
      password: conn.password,
    });
    const setCookie = client.lastResponseHeaders?.['set-cookie'];
    const cookie = (Array.isArray(setCookie) ? setCookie : [String(setCookie ?? '')])
      .map((c) => c.split(';')[0]!.trim())
      .find((c) => c.startsWith('vmware_soap_session='));
    if (!cookie)
      throw new SourceError('VsphereRequestFailed', `login to ${conn.endpoint} returned no session cookie`);
    return { conn, content: serviceContent, agent, cookie, client };
  } catch (err) {
    agent.destroy();
    throw sourceErrorFromCall(err, conn, 'login');
  }
}

interface CachedSession {
  fingerprint: string;
  session: Promise<VimSession>;
}
const sessions = new Map<string, CachedSession>();

function cacheKey(conn: VmwareConnection): string {
  return `${conn.endpoint}\u0000${conn.username}`;
}
function fingerprint(conn: VmwareConnection): string {
  return createHash('sha256')
    .update(JSON.stringify([conn.password, conn.caCertPem ?? '', conn.insecureSkipVerify]))
    .digest('hex');
}

async function logoutQuietly(session: Promise<VimSession>): Promise<void> {
  try {
    const s = await session;
    await rawCall(s.client, 'Logout', { _this: moRefArg(s.content.sessionManager) }, s.cookie).catch(
      () => undefined,
    );
    s.agent.destroy();
  } catch {
    // the session never came up
  }
}

function sessionFor(conn: VmwareConnection): Promise<VimSession> {
  const key = cacheKey(conn);
  const print = fingerprint(conn);
  const cached = sessions.get(key);
  if (cached && cached.fingerprint === print) return cached.session;
  if (cached) void logoutQuietly(cached.session);
  const session = login(conn);
  const entry = { fingerprint: print, session };
  sessions.set(key, entry);
  session.catch(() => {
    if (sessions.get(key) === entry) sessions.delete(key);
  });
  return session;
}

function forget(conn: VmwareConnection, session: Promise<VimSession>): void {
  const key = cacheKey(conn);
  if (sessions.get(key)?.session === session) sessions.delete(key);
}

/**
 * Runs `fn` with the cached session of `conn` (logging in when needed). When vCenter answers
 * NotAuthenticated (expired or logged-out session), logs in again once and retries `fn`.
 */
export async function withVimSession<T>(
  conn: VmwareConnection,
  fn: (s: VimSession) => Promise<T>,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const pending = sessionFor(conn);
    const session = await pending;
    try {
      return await fn(session);
    } catch (err) {
      if (attempt === 0 && err instanceof SourceError && err.reason === NOT_AUTHENTICATED) {
        forget(conn, pending);
        continue;
      }
      throw err;
    }
  }
}

/**
 * A new session in place of `stale`, which vCenter no longer knows (expired, or ended by
 * SessionManager.TerminateSession): for work that cannot simply start over, such as an export
 * lease being kept alive. Callers renewing the same stale session at once share one login.
 */
export async function renewVimSession(stale: VimSession): Promise<VimSession> {
  const key = cacheKey(stale.conn);
  const cached = sessions.get(key);
  if (cached && (await cached.session.catch(() => undefined)) === stale) sessions.delete(key);
  return sessionFor(stale.conn);
}

/** Whether `err` says vCenter no longer knows the session. */
export const isNotAuthenticated = (err: unknown): boolean =>
  err instanceof SourceError && err.reason === NOT_AUTHENTICATED;

/** Calls a vim25 method with the session; errors become SourceErrors (never carrying secrets). */
export async function vimCall(session: VimSession, operation: string, args: SoapArgs): Promise<unknown> {
  try {
    return await rawCall(session.client, operation, args, session.cookie);
  } catch (err) {
    throw sourceErrorFromCall(err, session.conn, operation);
  }
}

/** Logs out every cached session (process shutdown, tests). */
export async function closeVmwareSessions(): Promise<void> {
  const all = [...sessions.values()];
  sessions.clear();
  await Promise.all(all.map((c) => logoutQuietly(c.session)));
}
