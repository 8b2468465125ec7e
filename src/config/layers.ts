// Schema of the `layers` section: the rule language (match + trigger) shared by
// the fault, latency and throttle layers, and each layer's own actions.
import { z } from 'zod';
import { E } from '../vfs/errors.ts';
import { OP_GROUPS, OP_NAMES } from '../layers/op.ts';
import { didYouMean, opsThatCannotReturn } from '../rules/errnos.ts';
import { expandOps } from '../rules/rule.ts';
import { DURATION_HINT, parseDuration, parseSize, SIZE_HINT } from './units.ts';
import { METRICS_DATA } from './metrics-data.ts';

const isoTime = z.iso.datetime({ error: 'expected a UTC date and time such as 2026-12-06T10:00:00Z' });

/** A string or number; anything else (or nothing) is reported with what was expected, not as "Invalid input". */
const scalar = (expected: string) =>
  z.union([z.string(), z.number()], {
    error: (i) => `${i.input === undefined ? 'missing' : `${JSON.stringify(i.input)} is not allowed`}; expected ${expected}`,
  });
export const size = scalar(SIZE_HINT).transform(
  (v, ctx) => parseSize(v) ?? fail(ctx, `${JSON.stringify(v)} is not a size; expected ${SIZE_HINT}`),
);
export const duration = scalar(DURATION_HINT).transform(
  (v, ctx) => parseDuration(v) ?? fail(ctx, `${JSON.stringify(v)} is not a duration; expected ${DURATION_HINT}`),
);
const RATE_HINT = 'e.g. 10MiB/s or 500KiB/s';
/** Bytes per second: "10MiB/s" or a size. */
export const rate = scalar(`a rate, ${RATE_HINT}`).transform((v, ctx) => {
  const n = parseSize(typeof v === 'string' ? v.replace(/\/s$/, '') : v);
  return n !== null && n > 0 ? n : fail(ctx, `${JSON.stringify(v)} is not a rate; expected ${RATE_HINT}`);
});

function fail(ctx: z.RefinementCtx, message: string): never {
  ctx.addIssue({ code: 'custom', message });
  return z.NEVER as never;
}

const list = <T extends z.ZodType>(t: T, what = 'a value') =>
  z
    .union([t, z.array(t)], {
      error: (i) =>
        `${i.input === undefined ? 'missing' : `${JSON.stringify(i.input)} is not allowed`}; expected ${what} or a list of them`,
    })
    .transform((v) => (Array.isArray(v) ? v : [v]) as z.output<T>[]);
const opNames = new Set<string>([...OP_NAMES, ...Object.keys(OP_GROUPS)]);
const opName = z.string().superRefine((v, ctx) => {
  if (opNames.has(v)) return;
  const hint = didYouMean(v, opNames);
  ctx.addIssue({
    code: 'custom',
    message: `"${v}" is not an operation${hint ? `; did you mean ${hint}?` : `; expected one of ${[...opNames].join(', ')}`}`,
  });
});
function errnoIssue(v: string, ctx: z.RefinementCtx, path: PropertyKey[] = []): void {
  if (typeof E[v] === 'number') return;
  const hint = didYouMean(v, Object.keys(E));
  ctx.addIssue({ code: 'custom', path, message: `"${v}" is not an errno${hint ? `; did you mean ${hint}?` : ''}` });
}
const errnoName = z.string().superRefine((v, ctx) => errnoIssue(v, ctx));
const fraction = z.number().min(0).max(1);
const PORTION_HINT = 'a fraction between 0 and 1 (0.5) or a byte count (4KiB, 100)';
/** A part of an I/O: a fraction (0.5) or a byte count ("4KiB", 100). */
const portion = scalar(PORTION_HINT).transform((v, ctx) => {
  if (typeof v === 'number' && v > 0 && v < 1) return { fraction: v };
  const bytes = typeof v === 'number' ? (Number.isInteger(v) && v >= 0 ? v : null) : parseSize(v);
  return bytes !== null ? { bytes } : fail(ctx, `${JSON.stringify(v)} is not a portion; expected ${PORTION_HINT}`);
});
const RANGE_HINT = 'a range such as { min: 4KiB, max: 1MiB } (either may be left out)';
/** min and max sizes, both optional and inclusive. */
const range = z
  .strictObject(
    { min: size.optional(), max: size.optional() },
    {
      error: (i) =>
        i.code === 'invalid_type'
          ? `${i.input === undefined ? 'missing' : `${JSON.stringify(i.input)} is not allowed`}; expected ${RANGE_HINT}`
          : undefined,
    },
  )
  .superRefine((r, ctx) => {
    if (r.min !== undefined && r.max !== undefined && r.min > r.max)
      ctx.addIssue({ code: 'custom', path: ['max'], message: `${r.max} bytes is below min (${r.min} bytes); expected max >= min` });
  });

export const ruleFields = {
  name: z.string().min(1).optional(),
  ops: list(opName, 'an operation or group').optional(),
  paths: list(z.string().min(1), 'a path glob').optional(),
  exclude: list(z.string().min(1), 'a path glob').optional(),
  process: z
    .strictObject({ pid: list(z.number().int()).optional(), comm: list(z.string()).optional(), uid: list(z.number().int()).optional() })
    .optional(),
  /** I/O size of read/write/fallocate/copy_file_range. */
  size: range.optional(),
  /** Size of the regular file the op is about, before the op. */
  fileSize: range.optional(),
  probability: fraction.optional(),
  after: z.number().int().min(0).optional(),
  every: z.number().int().min(1).optional(),
  times: z.number().int().min(1).optional(),
  afterBytes: size.optional(),
  window: z
    .strictObject({
      start: duration.optional(),
      duration: duration.optional(),
      from: isoTime.optional(),
      to: isoTime.optional(),
    })
    .refine((w) => !(w.from && w.to) || Date.parse(w.from) < Date.parse(w.to), 'expected from before to: this window never opens')
    .optional(),
  ramp: z.strictObject({ over: duration, from: fraction.optional() }).optional(),
  /** Seconds after which a rule added at runtime removes itself. */
  ttl: duration.optional(),
};

// Names are checked after the shape, so a misspelt one inside a weighted list keeps its did-you-mean.
const weightedErrno = z
  .union([z.string(), z.record(z.string(), z.number().positive())], {
    error: (i) => `${JSON.stringify(i.input)} is not an errno; expected a name such as EIO or weights such as { EIO: 3 }`,
  })
  .superRefine((v, ctx) => {
    if (typeof v === 'string') errnoIssue(v, ctx);
    else for (const k of Object.keys(v)) errnoIssue(k, ctx, [k]);
  });
const weightedErrnos = list(weightedErrno, 'an errno name or { ERRNO: weight }').transform((items) =>
  items.flatMap((i) =>
    typeof i === 'string' ? [{ errno: i, weight: 1 }] : Object.entries(i).map(([errno, weight]) => ({ errno, weight })),
  ),
);

/** An object that must carry exactly one of its (optional) keys: errors then point inside the one given. */
function oneOf<S extends z.ZodRawShape>(shape: S, what: string) {
  return z.strictObject(shape).superRefine((v, ctx) => {
    const given = Object.keys(v).filter((k) => (v as Record<string, unknown>)[k] !== undefined);
    if (given.length !== 1)
      ctx.addIssue({
        code: 'custom',
        message: `expected exactly one ${what}: ${Object.keys(shape).join(', ')}; got ${given.length ? given.join(', ') : 'none'}`,
      });
  });
}

const faultAction = oneOf(
  {
    errno: weightedErrnos.optional(),
    shortRead: portion.optional(),
    shortWrite: portion.optional(),
    tornWrite: z.strictObject({ keep: portion, errno: errnoName.default('EIO') }).optional(),
    corrupt: z
      .strictObject({ mode: z.enum(['flip', 'zero', 'random']).default('flip'), bytes: z.number().int().min(1).default(1) })
      .optional(),
    statfs: z.strictObject({ size: size.optional(), free: size.optional(), files: z.number().int().optional() }).optional(),
    attr: z
      .strictObject({
        mode: z.number().int().optional(),
        size: size.optional(),
        mtime: isoTime.optional(),
        uid: z.number().int().optional(),
        gid: z.number().int().optional(),
      })
      .optional(),
  },
  'action',
);
export type FaultAction = z.output<typeof faultAction>;

const faultRule = z
  .strictObject({ ...ruleFields, errno: weightedErrnos.optional(), action: faultAction.optional() })
  .superRefine((r, ctx) => {
    if ((r.errno === undefined) === (r.action === undefined)) {
      ctx.addIssue({ code: 'custom', message: 'a fault rule needs exactly one of errno or action' });
      return;
    }
    const torn = r.action?.tornWrite;
    const errnos = r.errno ?? r.action?.errno ?? (torn ? [{ errno: torn.errno, weight: 1 }] : []);
    if (r.ops?.some((o) => !opNames.has(o))) return; // reported already
    const ops = expandOps(r.ops) ?? new Set(OP_NAMES);
    for (const { errno } of errnos) {
      if (typeof E[errno] !== 'number') continue; // reported already
      const bad = opsThatCannotReturn(errno, ops);
      if (bad.length > 0) {
        ctx.addIssue({
          code: 'custom',
          path: [r.errno ? 'errno' : 'action'],
          message: `${errno} is not a result of ${bad.join(', ')}; limit the rule's ops to those that can return it`,
        });
      }
    }
  });
export type FaultRuleConfig = z.output<typeof faultRule>;

const distribution = oneOf(
  {
    fixed: duration.optional(),
    uniform: z
      .strictObject({ min: duration, max: duration })
      .refine((u) => u.min <= u.max, 'expected min <= max')
      .optional(),
    normal: z.strictObject({ mean: duration, stddev: duration }).optional(),
    exponential: z.strictObject({ mean: duration }).optional(),
    lognormal: z
      .strictObject({ median: duration, p99: duration })
      .refine((l) => l.p99 >= l.median && l.median > 0, 'expected 0 < median <= p99')
      .optional(),
    pareto: z.strictObject({ scale: duration, shape: z.number().positive() }).optional(),
    empirical: z
      .record(
        z
          .string()
          .regex(/^p?\d+(\.\d+)?$/)
          .refine((k) => Number(k.replace(/^p/, '')) <= 100),
        duration,
        {
          error: (i) =>
            i.code === 'invalid_key' ? `"${String(i.input)}" is not a percentile; expected keys like p50, p99.9 (0 to 100)` : undefined,
        },
      )
      .refine((r) => Object.keys(r).length > 0, 'expected at least one percentile, e.g. { p50: 1ms, p99: 20ms }')
      .optional(),
  },
  'distribution',
);

const latencyRule = z
  .strictObject({ ...ruleFields, delay: duration.optional(), distribution: distribution.optional() })
  .refine((r) => (r.delay === undefined) !== (r.distribution === undefined), 'a latency rule needs exactly one of delay or distribution');
export type LatencyRuleConfig = z.output<typeof latencyRule>;

const limits = {
  read: rate.optional(),
  write: rate.optional(),
  total: rate.optional(),
  iops: z.number().positive().optional(),
  burst: size.optional(),
  /** wait (default): delay until tokens are there; fail: answer EAGAIN at once. */
  onLimit: z.enum(['wait', 'fail']).default('wait'),
};
const throttleRule = z.strictObject({ ...ruleFields, ...limits });
export type ThrottleRuleConfig = z.output<typeof throttleRule>;

/** A closed set of names; anything else is reported with the set. */
export const choice = <T extends string>(values: readonly [T, ...T[]]) =>
  z.enum(values, { error: (i) => `${JSON.stringify(i.input)} is not allowed; expected one of ${values.join(', ')}` });

export const layerSchema = oneOf(
  {
    fault: z.strictObject({ seed: z.number().int().default(1), rules: z.array(faultRule).default([]) }).optional(),
    latency: z.strictObject({ seed: z.number().int().default(1), rules: z.array(latencyRule).default([]) }).optional(),
    throttle: z.strictObject({ ...limits, rules: z.array(throttleRule).default([]) }).optional(),
    metrics: z.strictObject({ data: choice(METRICS_DATA).default('observe') }).optional(),
    trace: z
      .strictObject({
        ops: list(opName).optional(),
        paths: list(z.string().min(1)).optional(),
        exclude: list(z.string().min(1)).optional(),
        process: ruleFields.process,
        minDuration: duration.optional(),
        errorsOnly: z.boolean().optional(),
        injectedOnly: z.boolean().optional(),
        sample: fraction.optional(),
      })
      .optional(),
    /** Keep undo logs of unsynced writes so `ctl crash` can discard them. */
    durability: z.strictObject({ paths: list(z.string().min(1)).optional(), exclude: list(z.string().min(1)).optional() }).optional(),
  },
  'layer',
);
export type LayerConfig = z.output<typeof layerSchema>;
