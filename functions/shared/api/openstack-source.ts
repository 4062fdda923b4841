import { z } from 'zod';
import { SecretReference, SourceStatus, optionalString, resourceSchema } from './common.ts';

/** Upstream defaults applied in code when the value is missing or <= 0 (openstack.go). */
export const OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_COUNT = 30;
export const OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_DELAY_SECONDS = 10;

export const OpenstackSourceSpec = z
  .object({
    endpoint: optionalString(
      'Keystone identity URL, e.g. https://devstack/identity or https://keystone:5000/v3.',
    ),
    region: optionalString('Region used for every service catalog lookup, e.g. RegionOne.'),
    credentials: SecretReference.nullish().describe(
      'Secret with keys "username", "password", "project_name", "domain_name" (required) and "ca_cert" (optional PEM CA). TLS is always verified, against ca_cert or the system CAs; set the key "insecureSkipVerify" to "true" only to opt out explicitly.',
    ),
    uploadImageRetryCount: z
      .number()
      .int()
      .nullish()
      .describe(
        `How many times to poll a volume-to-image upload before giving up; missing or <= 0 means ${OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_COUNT}.`,
      ),
    uploadImageRetryDelay: z
      .number()
      .int()
      .nullish()
      .describe(
        `Seconds between polls of a volume-to-image upload; missing or <= 0 means ${OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_DELAY_SECONDS}.`,
      ),
  })
  .describe('Where the OpenStack cloud is and how to log in.');
export type OpenstackSourceSpec = z.infer<typeof OpenstackSourceSpec>;

export const OpenstackSource = resourceSchema(
  'OpenstackSource',
  OpenstackSourceSpec,
  SourceStatus,
  'An OpenStack cloud (Keystone v3) that VirtualMachineImports can copy servers from.',
);
export type OpenstackSource = z.infer<typeof OpenstackSource>;

export function uploadImageRetryOptions(spec: OpenstackSourceSpec): { count: number; delaySeconds: number } {
  const count = spec.uploadImageRetryCount ?? 0;
  const delay = spec.uploadImageRetryDelay ?? 0;
  return {
    count: count > 0 ? count : OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_COUNT,
    delaySeconds: delay > 0 ? delay : OPENSTACK_DEFAULT_UPLOAD_IMAGE_RETRY_DELAY_SECONDS,
  };
}
