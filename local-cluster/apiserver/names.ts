// Object name rules and generated names.
import { randomInt } from 'node:crypto';
import type { StatusCause } from './errors.ts';

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function generateNameSuffix(): string {
  let s = '';
  for (let i = 0; i < 5; i++) s += SUFFIX_ALPHABET[randomInt(SUFFIX_ALPHABET.length)];
  return s;
}

export function validateName(name: string, dnsLabel: boolean): StatusCause[] {
  if (dnsLabel) {
    if (name.length > 63 || !LABEL.test(name)) {
      return [
        {
          reason: 'FieldValueInvalid',
          field: 'metadata.name',
          message: `Invalid value: "${name}": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`,
        },
      ];
    }
    return [];
  }
  if (name.length > 253 || !SUBDOMAIN.test(name)) {
    return [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
      },
    ];
  }
  return [];
}

export function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function qualifiedNameErrors(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  const name = parts.length === 2 ? (parts[1] as string) : (parts[0] as string);
  const prefix = parts.length === 2 ? (parts[0] as string) : undefined;
  const errors: string[] = [];
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !SUBDOMAIN.test(prefix))) {
    errors.push(
      "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
    );
  }
  if (name.length === 0) errors.push('name part must be non-empty');
  else if (name.length > 63) errors.push('name part must be no more than 63 characters');
  else if (!QUALIFIED_NAME_PART.test(name)) {
    errors.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
    );
  }
  return errors;
}

/** Label and annotation keys/values and owner references, checked like ObjectMeta validation. */
export function validateObjectMeta(meta: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  const invalid = (field: string, value: string, message: string): void => {
    causes.push({
      reason: 'FieldValueInvalid',
      field,
      message: `Invalid value: ${JSON.stringify(value)}: ${message}`,
    });
  };
  const labels = meta['labels'];
  if (labels !== undefined && labels !== null) {
    for (const [key, value] of Object.entries(labels as Record<string, unknown>)) {
      for (const e of qualifiedNameErrors(key)) invalid('metadata.labels', key, e);
      if (typeof value !== 'string')
        invalid('metadata.labels', String(value), 'label values must be strings');
      else if (value.length > 63) invalid('metadata.labels', value, 'must be no more than 63 characters');
      else if (!LABEL_VALUE.test(value)) {
        invalid(
          'metadata.labels',
          value,
          "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        );
      }
    }
  }
  const annotations = meta['annotations'];
  if (annotations !== undefined && annotations !== null) {
    let size = 0;
    for (const [key, value] of Object.entries(annotations as Record<string, unknown>)) {
      for (const e of qualifiedNameErrors(key.toLowerCase())) invalid('metadata.annotations', key, e);
      size += key.length + String(value).length;
    }
    if (size > 256 * 1024) {
      causes.push({
        reason: 'FieldValueTooLong',
        field: 'metadata.annotations',
        message: `Too long: may not be more than ${256 * 1024} bytes`,
      });
    }
  }
  const refs = meta['ownerReferences'];
  if (Array.isArray(refs)) {
    refs.forEach((ref: Record<string, unknown>, i) => {
      for (const field of ['apiVersion', 'kind', 'name', 'uid']) {
        if (typeof ref?.[field] !== 'string' || ref[field] === '') {
          causes.push({
            reason: 'FieldValueRequired',
            field: `metadata.ownerReferences[${i}].${field}`,
            message: 'Required value',
          });
        }
      }
    });
    if (refs.filter((r: Record<string, unknown>) => r?.['controller'] === true).length > 1) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'metadata.ownerReferences',
        message: 'Invalid value: only one reference can have Controller set to true',
      });
    }
  }
  return causes;
}
