import { z } from 'zod';
import { SecretReference, SourceStatus, optionalString, resourceSchema } from './common.ts';

export const VmwareSourceSpec = z
  .object({
    endpoint: optionalString(
      'vSphere SDK URL of the vCenter or ESXi host, e.g. https://vcenter.example.com/sdk.',
    ),
    dc: optionalString('Datacenter name or inventory path; a leading "/" is added when missing.'),
    credentials: SecretReference.nullish().describe(
      'Secret with keys "username" and "password" (required) and "caCert" (optional PEM CA that signed the endpoint certificate). TLS is always verified, against caCert or the system CAs; set the key "insecureSkipVerify" to "true" only to opt out explicitly.',
    ),
  })
  .describe('Where the vCenter is and how to log in.');
export type VmwareSourceSpec = z.infer<typeof VmwareSourceSpec>;

export const VmwareSource = resourceSchema(
  'VmwareSource',
  VmwareSourceSpec,
  SourceStatus,
  'A VMware vCenter (or ESXi host) that VirtualMachineImports can copy VMs from.',
);
export type VmwareSource = z.infer<typeof VmwareSource>;
