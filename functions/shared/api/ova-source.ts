import { z } from 'zod';
import { SecretReference, SourceStatus, optionalString, resourceSchema } from './common.ts';

export const OVA_DEFAULT_HTTP_TIMEOUT_SECONDS = 600;

export const OvaSourceSpec = z
  .object({
    url: optionalString('http:// or https:// URL of the .ova file.'),
    httpTimeoutSeconds: z
      .number()
      .int()
      .nullish()
      .describe(
        `Timeout in seconds for connecting and reading the whole file; missing means ${OVA_DEFAULT_HTTP_TIMEOUT_SECONDS}, 0 means no timeout.`,
      ),
    credentials: SecretReference.nullish().describe(
      'Optional Secret with keys "username" and "password" (HTTP basic auth, both needed) and "ca.crt" (PEM CA for https). TLS is always verified, against ca.crt or the system CAs; set the key "insecureSkipVerify" to "true" only to opt out explicitly.',
    ),
  })
  .describe('Where the OVA file is and how to fetch it.');
export type OvaSourceSpec = z.infer<typeof OvaSourceSpec>;

export const OvaSource = resourceSchema(
  'OvaSource',
  OvaSourceSpec,
  SourceStatus,
  'An OVA file served over HTTP(S) that a VirtualMachineImport can create a VM from.',
);
export type OvaSource = z.infer<typeof OvaSource>;

/** Milliseconds for the HTTP client; 0 means none (upstream GetHttpTimeout). */
export function ovaHttpTimeoutMs(spec: OvaSourceSpec): number {
  return (spec.httpTimeoutSeconds ?? OVA_DEFAULT_HTTP_TIMEOUT_SECONDS) * 1000;
}
