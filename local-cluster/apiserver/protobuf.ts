// Decoding of the Kubernetes protobuf envelope for the few built-in kinds kubectl writes as
// protobuf (`kubectl create namespace|configmap|secret|serviceaccount`). Responses stay JSON,
// which kubectl accepts. Field numbers are those of k8s.io/api generated.proto.
import { ApiError } from './errors.ts';
import type { KubeObject } from './types.ts';

export const PROTOBUF_CONTENT_TYPE = 'application/vnd.kubernetes.protobuf';
const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

type Field = { no: number; wire: number; value: bigint | Buffer };

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++] as number;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function fields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [tag, p] = readVarint(buf, pos);
    pos = p;
    const no = Number(tag >> 3n);
    const wire = Number(tag & 7n);
    if (wire === 0) {
      const [v, q] = readVarint(buf, pos);
      out.push({ no, wire, value: v });
      pos = q;
    } else if (wire === 2) {
      const [len, q] = readVarint(buf, pos);
      out.push({ no, wire, value: buf.subarray(q, q + Number(len)) });
      pos = q + Number(len);
    } else if (wire === 1) {
      out.push({ no, wire, value: buf.subarray(pos, pos + 8) });
      pos += 8;
    } else if (wire === 5) {
      out.push({ no, wire, value: buf.subarray(pos, pos + 4) });
      pos += 4;
    } else throw new Error(`unsupported wire type ${wire}`);
  }
  return out;
}

const str = (f: Field): string => (f.value as Buffer).toString('utf8');
const bytes = (f: Field): Buffer => f.value as Buffer;

function mapEntry(buf: Buffer): [string, Buffer] {
  let key = '';
  let value: Buffer = Buffer.alloc(0);
  for (const f of fields(buf)) {
    if (f.no === 1) key = str(f);
    if (f.no === 2) value = bytes(f);
  }
  return [key, value];
}

function time(buf: Buffer): string {
  let seconds = 0n;
  for (const f of fields(buf)) if (f.no === 1) seconds = f.value as bigint;
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function objectMeta(buf: Buffer): KubeObject['metadata'] {
  const meta: KubeObject['metadata'] = {};
  for (const f of fields(buf)) {
    switch (f.no) {
      case 1:
        meta.name = str(f);
        break;
      case 2:
        meta.generateName = str(f);
        break;
      case 3:
        meta.namespace = str(f);
        break;
      case 5:
        meta.uid = str(f);
        break;
      case 6:
        meta.resourceVersion = str(f);
        break;
      case 8:
        meta.creationTimestamp = time(bytes(f));
        break;
      case 11: {
        const [k, v] = mapEntry(bytes(f));
        (meta.labels ??= {})[k] = v.toString('utf8');
        break;
      }
      case 12: {
        const [k, v] = mapEntry(bytes(f));
        (meta.annotations ??= {})[k] = v.toString('utf8');
        break;
      }
      case 13: {
        const ref: Record<string, unknown> = {};
        for (const g of fields(bytes(f))) {
          if (g.no === 1) ref['kind'] = str(g);
          if (g.no === 3) ref['name'] = str(g);
          if (g.no === 4) ref['uid'] = str(g);
          if (g.no === 5) ref['apiVersion'] = str(g);
          if (g.no === 6) ref['controller'] = g.value === 1n;
          if (g.no === 7) ref['blockOwnerDeletion'] = g.value === 1n;
        }
        (meta.ownerReferences ??= []).push(ref as never);
        break;
      }
      case 14:
        (meta.finalizers ??= []).push(str(f));
        break;
      default:
        break;
    }
  }
  return meta;
}

function decodeKind(apiVersion: string, kind: string, raw: Buffer): KubeObject {
  const obj: KubeObject = { apiVersion, kind, metadata: {} };
  for (const f of fields(raw)) {
    if (f.no === 1) {
      obj.metadata = objectMeta(bytes(f));
      continue;
    }
    switch (`${apiVersion}/${kind}/${f.no}`) {
      case 'v1/ConfigMap/2': {
        const [k, v] = mapEntry(bytes(f));
        ((obj['data'] ??= {}) as Record<string, string>)[k] = v.toString('utf8');
        break;
      }
      case 'v1/ConfigMap/3': {
        const [k, v] = mapEntry(bytes(f));
        ((obj['binaryData'] ??= {}) as Record<string, string>)[k] = v.toString('base64');
        break;
      }
      case 'v1/ConfigMap/4':
      case 'v1/Secret/5':
        obj['immutable'] = f.value === 1n;
        break;
      case 'v1/Secret/2': {
        const [k, v] = mapEntry(bytes(f));
        ((obj['data'] ??= {}) as Record<string, string>)[k] = v.toString('base64');
        break;
      }
      case 'v1/Secret/3':
        obj['type'] = str(f);
        break;
      case 'v1/Secret/4': {
        const [k, v] = mapEntry(bytes(f));
        ((obj['stringData'] ??= {}) as Record<string, string>)[k] = v.toString('utf8');
        break;
      }
      case 'v1/Namespace/2': {
        const finalizers = fields(bytes(f))
          .filter((g) => g.no === 1)
          .map(str);
        obj['spec'] = finalizers.length ? { finalizers } : {};
        break;
      }
      case 'v1/ServiceAccount/3': {
        const name = fields(bytes(f)).find((g) => g.no === 1);
        ((obj['imagePullSecrets'] ??= []) as unknown[]).push({ name: name ? str(name) : '' });
        break;
      }
      case 'v1/ServiceAccount/4':
        obj['automountServiceAccountToken'] = f.value === 1n;
        break;
      case 'v1/Namespace/3':
        break;
      default:
        throw new ApiError(
          415,
          'UnsupportedMediaType',
          `protobuf bodies are accepted for Namespace, ConfigMap, Secret and ServiceAccount only; send ${kind} as application/json (field ${f.no} unknown)`,
        );
    }
  }
  return obj;
}

/** Decodes `k8s\0` + runtime.Unknown{typeMeta, raw} into a JSON object. */
export function decodeProtobufObject(body: Buffer): KubeObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) {
    throw new ApiError(400, 'BadRequest', 'protobuf body does not start with the k8s envelope magic');
  }
  let apiVersion = '';
  let kind = '';
  let raw: Buffer = Buffer.alloc(0);
  try {
    for (const f of fields(body.subarray(4))) {
      if (f.no === 1) {
        for (const g of fields(bytes(f))) {
          if (g.no === 1) apiVersion = str(g);
          if (g.no === 2) kind = str(g);
        }
      }
      if (f.no === 2) raw = bytes(f);
    }
    const supported = ['Namespace', 'ConfigMap', 'Secret', 'ServiceAccount'];
    if (apiVersion !== 'v1' || !supported.includes(kind)) {
      throw new ApiError(
        415,
        'UnsupportedMediaType',
        `protobuf bodies are accepted for v1 ${supported.join(', ')} only; send ${apiVersion} ${kind} as application/json`,
      );
    }
    return decodeKind(apiVersion, kind, raw);
  } catch (err) {
    if (err instanceof ApiError) throw err;
    throw new ApiError(
      400,
      'BadRequest',
      `unable to decode protobuf body: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
