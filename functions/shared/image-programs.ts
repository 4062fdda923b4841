// The programs of the vm-import image: each source entry point and the JavaScript `npm run build`
// (build.ts) makes of it under dist/. Pods run the built file with plain `node` from WORKDIR /app.
export const IMAGE_PROGRAMS = {
  /** faas-js-runtime serving one function: `node <built> <function name>`. */
  functions: { source: 'functions/serve.ts', built: 'dist/functions/serve.mjs' },
  /** The export Job. */
  exporter: { source: 'functions/export/job/main.ts', built: 'dist/functions/export/job/main.mjs' },
  /** The per-import disk server. */
  diskServer: {
    source: 'functions/images/disk-server-main.ts',
    built: 'dist/functions/images/disk-server-main.mjs',
  },
} as const;
