// The configuration schema shared by the CLI, the control API and the CSI
// plugin. Parsing turns human units into numbers; every error names the field,
// the value it found and what it expected.
import { z } from 'zod';
import { choice, layerSchema } from './layers.ts';
import { isPort, ON_CONTROL_SOCKET } from '../telemetry/listen.ts';
import { DURATION_HINT, parseDuration, parseSize, SIZE_HINT } from './units.ts';

// An unknown field is named with the fields that section takes: a typo then shows its fix. Every object
// here is strict, and zod reports the object's schema with the issue, so one error map covers them all.
z.config({
  customError: (issue) => {
    if (issue.code !== 'unrecognized_keys') return undefined;
    const fields = Object.keys((issue.inst as { _zod?: { def?: { shape?: object } } } | undefined)?._zod?.def?.shape ?? {});
    const found = issue.keys.map((k) => `"${k}"`).join(', ');
    return `unknown field${issue.keys.length > 1 ? 's' : ''} ${found}${fields.length ? `; expected ${fields.join(', ')}` : ''}`;
  },
});

const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a size; expected ${SIZE_HINT}` });
    return z.NEVER;
  }
  return n;
});

const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseDuration(v);
  if (n === null) {
    ctx.addIssue({ code: 'custom', message: `${JSON.stringify(v)} is not a duration; expected ${DURATION_HINT}` });
    return z.NEVER;
  }
  return n;
});

const busyPoll = z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (v === 'auto') return 'auto' as const;
  const n = parseDuration(v);
  if (n === null || n > 10) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(v)} is not a busy-poll window; expected auto, 0 (off) or a duration up to 10ms, e.g. 200us`,
    });
    return z.NEVER;
  }
  return n;
});

export const backendSchema = z.discriminatedUnion(
  'type',
  [
    z.strictObject({
      type: z.literal('passthrough'),
      path: z.string({ error: 'expected the host directory to mirror, e.g. path: ./data' }).min(1),
      /** Files up to this size opened for reading are read ahead as they are opened; 0 never (backends/passthrough.ts). */
      prefetch: size.default(128 * 1024),
    }),
    z.strictObject({ type: z.literal('memory'), size: size.default(1024 ** 3) }),
    z.strictObject({ type: z.literal('null'), readSize: size.default(0) }),
  ],
  { error: (i) => `${JSON.stringify((i.input as { type?: unknown })?.type)} is not a backend type; expected passthrough, memory or null` },
);

export const mountSchema = z
  .strictObject({
    /** auto: cached pages kept until the file changes beside the mount; direct: every read/write and every directory listing reaches the daemon; keep: cached pages kept even then. */
    cache: choice(['auto', 'direct', 'keep']).default('auto'),
    attrTimeout: duration.default(1000),
    entryTimeout: duration.default(1000),
    negativeTimeout: duration.default(0),
    kernelPassthrough: choice(['auto', 'on', 'off']).default('auto'),
    writebackCache: z.boolean().default(false),
    maxWrite: size.default(1024 * 1024).refine((n) => n >= 4096 && n <= 256 * 1024 * 1024, 'expected between 4KiB and 256MiB'),
    maxBackground: z.number().int().min(1).max(65535).default(64),
    /**
     * Longest busy-poll for the next request before the daemon sleeps (adaptive; src/fuse/busy-poll.ts); 0 never;
     * auto: 200µs when the daemon may use two CPUs or more, else 0 (cli/options.ts).
     */
    busyPoll: busyPoll.default('auto'),
    /**
     * off: requests through /dev/fuse (the faster here, bench/RESULTS.md); on: through FUSE over io_uring,
     * refusing to start without it; auto: io_uring when the kernel offers it.
     */
    ioUring: choice(['auto', 'on', 'off']).default('off'),
    /** io_uring entries per queue (one queue per CPU): requests a queue can have in the daemon at once. */
    ringDepth: z.number().int().min(1).max(256).default(16),
    allowOther: z.boolean().default(false),
    readOnly: z.boolean().default(false),
  })
  .prefault({});

const telemetrySchema = z
  .strictObject({
    /** Prometheus endpoint, HOST:PORT; no endpoint unless set. */
    /** `control` serves them on the control socket only (the CSI plugin gathers them into one endpoint per node). */
    metrics: z
      .string()
      .regex(/^((\[[^\]]+\]|[^:\s]+)?:?\d+|control)$/, 'expected HOST:PORT such as 127.0.0.1:9464, or control')
      .refine(
        (v) => v === ON_CONTROL_SOCKET || isPort(Number(/\d+$/.exec(v)?.[0])),
        'expected a port from 1 to 65535, such as 127.0.0.1:9464',
      )
      .optional(),
    /** Added to every metric and span: volume, and in Kubernetes namespace and pod. */
    labels: z.record(z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a Prometheus label name'), z.string()).default({}),
    traces: z
      .strictObject({
        otlp: z.url({ error: 'expected a collector URL such as http://127.0.0.1:4318' }).optional(),
        protocol: choice(['http', 'grpc']).default('http'),
        file: z.string().min(1).optional(),
      })
      .optional(),
  })
  .prefault({});

export const configSchema = z
  .strictObject({
    backend: backendSchema.prefault({ type: 'memory' }),
    mount: mountSchema,
    /** Outermost first. */
    layers: z.array(layerSchema).default([]),
    telemetry: telemetrySchema,
  })
  .superRefine((c, ctx) => {
    c.layers.forEach((l, i) => {
      if (l.metrics && !c.telemetry.metrics) {
        ctx.addIssue({
          code: 'custom',
          path: ['layers', i, 'metrics'],
          message: 'a metrics layer needs an endpoint: set telemetry.metrics (e.g. 127.0.0.1:9464) or pass --metrics',
        });
      }
      if (l.trace && !c.telemetry.traces?.otlp && !c.telemetry.traces?.file) {
        ctx.addIssue({
          code: 'custom',
          path: ['layers', i, 'trace'],
          message: 'a trace layer needs a sink: set telemetry.traces.otlp or telemetry.traces.file (or pass --trace-file / --otlp)',
        });
      }
    });
  });

export type Config = z.output<typeof configSchema>;
export type BackendConfig = Config['backend'];
export type MountConfig = Config['mount'];
export type TelemetryConfig = Config['telemetry'];
