// Kubernetes `Status` failures: every error the API server returns is one of these.
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, unknown>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiError extends Error {
  readonly code: number;
  readonly reason: string;
  readonly details: StatusDetails | undefined;

  constructor(code: number, reason: string, message: string, details?: StatusDetails) {
    super(message);
    this.code = code;
    this.reason = reason;
    this.details = details;
  }

  toStatus(): Status {
    const status: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      code: this.code,
    };
    if (this.details) status.details = this.details;
    return status;
  }
}

/** `resource` is the plural, `group` may be '' for the core group (shown as `pods`, `foos.example.com`). */
export interface Qualified {
  group: string;
  resource: string;
  kind: string;
}

function qualifiedResource(q: Qualified): string {
  return q.group ? `${q.resource}.${q.group}` : q.resource;
}

export function notFound(q: Qualified, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedResource(q)} "${name}" not found`, {
    name,
    group: q.group,
    kind: q.resource,
  });
}

export function alreadyExists(q: Qualified, name: string): ApiError {
  return new ApiError(409, 'AlreadyExists', `${qualifiedResource(q)} "${name}" already exists`, {
    name,
    group: q.group,
    kind: q.resource,
  });
}

export function conflict(q: Qualified, name: string, why: string): ApiError {
  return new ApiError(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualifiedResource(q)} "${name}": ${why}`,
    { name, group: q.group, kind: q.resource },
  );
}

/** 422 with one cause per field error; `causes` carry `field` like `spec.foo` and the bare message. */
export function invalid(q: Qualified, name: string, causes: StatusCause[]): ApiError {
  const groupKind = q.group ? `${q.kind}.${q.group}` : q.kind;
  const text = causes.map((c) => (c.field ? `${c.field}: ${c.message}` : (c.message ?? ''))).join(', ');
  const list = causes.length > 1 ? `[${text}]` : text;
  return new ApiError(422, 'Invalid', `${groupKind} "${name}" is invalid: ${list}`, {
    name,
    group: q.group,
    kind: q.kind,
    causes,
  });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function methodNotAllowed(message: string): ApiError {
  return new ApiError(405, 'MethodNotAllowed', message);
}

export function gone(message: string): ApiError {
  return new ApiError(410, 'Expired', message);
}

export function unauthorized(): ApiError {
  return new ApiError(401, 'Unauthorized', 'Unauthorized');
}

export function unsupportedMediaType(contentType: string): ApiError {
  return new ApiError(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${contentType})`,
  );
}

export function forbidden(q: Qualified, name: string, why: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualifiedResource(q)} "${name}" is forbidden: ${why}`, {
    name,
    group: q.group,
    kind: q.resource,
  });
}
