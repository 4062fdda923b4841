// The programs of the vm-import image: each source entry point and the JavaScript `npm run build`
// (build.ts) makes of it under dist/. Pods run the built file with plain `node` from WORKDIR /app.
export const IMAGE_PROGRAMS = {
  /** faas-js-runtime serving one function: `node <nodeFlags> <built> <function name>`. */
  functions: {
    source: 'functions/serve.ts',
    built: 'dist/functions/serve.mjs',
    // V8 grows the young generation to 16 MiB semi-spaces while a function loads its code and
    // keeps them committed until its memory reducer runs, ~25 s after the last activity: an idle
    // function then held ~10 MiB more (verify-source 104 vs 92 MiB 10 s after its first event).
    // Events are small; 1 MiB semi-spaces cost a few more scavenges at start.
    nodeFlags: ['--max-semi-space-size=1'],
  },
  /** The export Job. */
  exporter: {
    source: 'functions/export/job/main.ts',
    built: 'dist/functions/export/job/main.mjs',
    // The data path allocates a Buffer per received chunk (16 KiB TLS records, inflated grains):
    // with 16 MiB semi-spaces their memory waited for rarer scavenges. Peak RSS of a 1 GiB / 50 %
    // export: VMware 145 -> 120 MiB, OpenStack (with the hash worker) 149 -> 128 MiB; CPU the same.
    nodeFlags: ['--max-semi-space-size=1'],
  },
  /** The per-import disk server. */
  diskServer: {
    source: 'functions/images/disk-server-main.ts',
    built: 'dist/functions/images/disk-server-main.mjs',
  },
} as const;

export type ImageProgram = keyof typeof IMAGE_PROGRAMS;

/** The command that runs a program in its pod: `node [flags] <built>` (arguments follow). */
export function programCommand(program: ImageProgram): string[] {
  const p: { built: string; nodeFlags?: readonly string[] } = IMAGE_PROGRAMS[program];
  return ['node', ...(p.nodeFlags ?? []), p.built];
}
