// Tracing: a span per op that passes the filter, with who asked (pid, command,
// uid), what (path, offset, sizes) and what came of it (result, rules fired).
// A file's ops are children of one span per open file, from open to release.
// The filter can be changed at runtime; export never blocks or fails an op,
// and a span is made once the op's reply is out (util/idle-tasks.ts).
import type { Span, Tracer } from '@opentelemetry/api';
import picomatch from 'picomatch';
import { expandOps, HIDDEN_OPS } from '../rules/rule.ts';
import { Rng } from '../rules/rng.ts';
import { outcomeOf } from '../vfs/answer.ts';
import { errnoName, toErrno } from '../vfs/errors.ts';
import type { OpenResult } from '../vfs/types.ts';
import type { Op, OpName } from './op.ts';
import type { Layer, Next } from './stack.ts';
import { requireLater } from '../util/require.ts';
import { whenIdle } from '../util/idle-tasks.ts';
import { performance } from '../util/clock.ts';

// The tracing API (~1.6 MiB), required when a trace layer is first built: a mount without one never loads it.
const otelApi = requireLater<typeof import('@opentelemetry/api')>('@opentelemetry/api');

export interface TraceFilter {
  ops?: string[];
  paths?: string[];
  exclude?: string[];
  process?: { pid?: number[]; comm?: string[]; uid?: number[] };
  /** Only ops that took at least this long (ms). */
  minDuration?: number;
  errorsOnly?: boolean;
  injectedOnly?: boolean;
  /** Fraction of matching ops to record. */
  sample?: number;
}

const FILE_OPS = new Set<OpName>(['read', 'write', 'flush', 'fsync', 'fallocate', 'lseek']);

interface Compiled {
  ops: Set<OpName> | null;
  include: ((p: string) => boolean) | null;
  exclude: ((p: string) => boolean) | null;
  f: TraceFilter;
}

function compile(f: TraceFilter): Compiled {
  const strip = (g: string): string => (g.startsWith('/') ? g.slice(1) : g);
  const inc = f.paths?.length ? picomatch(f.paths.map(strip), { dot: true }) : null;
  const exc = f.exclude?.length ? picomatch(f.exclude.map(strip), { dot: true }) : null;
  return {
    ops: expandOps(f.ops),
    include: inc ? (p) => inc(p.slice(1)) : null,
    exclude: exc ? (p) => exc(p.slice(1)) : null,
    f,
  };
}

/** An op's span, as taken when it finished. */
interface SpanFacts {
  op: OpName;
  path: string;
  path2: string | undefined;
  pid: number;
  command: string;
  uid: number;
  gid: number;
  offset: number;
  size: number;
  returned: number | undefined;
  fired: Op['fired'];
  writeback: Op['ctx']['writeback'];
  result: string;
  parent: Span | undefined;
  startTime: number;
  ms: number;
}

export interface TraceLayer extends Layer {
  filter(): TraceFilter;
  setFilter(f: TraceFilter): void;
}

export function createTraceLayer(tracer: Tracer, initial: TraceFilter, seed = 1): TraceLayer {
  const { context, SpanKind, SpanStatusCode, trace } = otelApi();
  let c = compile(initial);
  const rng = new Rng(seed);
  /** One span per open file handle: its ops are recorded as children. */
  const fileSpans = new Map<number, Span>();

  const wanted = (op: Op): boolean => {
    if (c.ops && !c.ops.has(op.name)) return false;
    if (c.include && !c.include(op.path)) return false;
    if (c.exclude && c.exclude(op.path)) return false;
    const pr = c.f.process;
    if (pr) {
      if (pr.pid && !pr.pid.includes(op.ctx.pid)) return false;
      if (pr.uid && !pr.uid.includes(op.ctx.uid)) return false;
      if (pr.comm && !pr.comm.includes(op.command())) return false;
    }
    return c.f.sample === undefined || c.f.sample >= 1 || rng.next() < c.f.sample;
  };

  const finish = (op: Op, startMs: number, fh: number | undefined, result: string, value: unknown): void => {
    const ms = performance.now() - startMs;
    const f = c.f;
    if (f.minDuration !== undefined && ms < f.minDuration) return;
    if (f.errorsOnly && result === 'ok') return;
    if (f.injectedOnly && !op.fired) return;
    // What the span needs, taken now (the op's arguments may be views into a buffer the next request
    // reuses; a file span may end first): the span itself is made once the reply is out.
    const returned =
      (op.name === 'read' || op.name === 'write' || op.name === 'copyFileRange') && typeof value === 'number' ? value : undefined;
    whenIdle(record, {
      op: op.name,
      path: op.path,
      path2: op.path2,
      pid: op.ctx.pid,
      command: op.command(),
      uid: op.ctx.uid,
      gid: op.ctx.gid,
      offset: op.offset,
      size: op.size,
      returned,
      fired: op.fired,
      writeback: op.ctx.writeback,
      result,
      parent: fh === undefined ? undefined : fileSpans.get(fh),
      startTime: performance.timeOrigin + startMs,
      ms,
    });
  };

  const record = (s: SpanFacts): void => {
    const ctx = s.parent ? trace.setSpan(context.active(), s.parent) : context.active();
    const span = tracer.startSpan(s.op, { kind: SpanKind.INTERNAL, startTime: s.startTime }, ctx);
    span.setAttributes({
      'fs.op': s.op,
      'fs.path': s.path,
      'process.pid': s.pid,
      'process.command': s.command,
      'user.id': s.uid,
      'group.id': s.gid,
      'fs.result': s.result,
    });
    if (s.path2 !== undefined) span.setAttribute('fs.path2', s.path2);
    if (s.offset >= 0) span.setAttribute('fs.offset', s.offset);
    if (s.size > 0) span.setAttribute('fs.size.requested', s.size);
    if (s.returned !== undefined) span.setAttribute('fs.size.returned', s.returned);
    if (s.fired) span.setAttribute('interposer.rules', s.fired);
    if (s.writeback) span.setAttribute('fs.writeback', s.writeback);
    if (s.result !== 'ok') span.setStatus({ code: SpanStatusCode.ERROR, message: s.result });
    span.end(s.startTime + s.ms);
  };

  const opened = (op: Op, res: OpenResult): void => {
    const span = tracer.startSpan(`file ${op.path}`, { attributes: { 'fs.path': op.path, 'process.pid': op.ctx.pid } });
    fileSpans.set(res.fh, span);
  };

  const pathWanted = (path: string): boolean => (!c.include || c.include(path)) && !(c.exclude && c.exclude(path));

  return {
    kind: 'trace',
    disturbs: false,
    filter: () => c.f,
    setFilter(f) {
      c = compile(f);
    },
    // A filter that may record reads or writes of `path` needs them to reach the daemon
    // (decided at open: a filter changed later does not turn passthrough off for open files).
    needs: (shortcut, path) => (!c.ops || HIDDEN_OPS[shortcut].some((n) => c.ops!.has(n))) && pathWanted(path),
    around(op: Op, next: Next) {
      if (op.name === 'release' && fileSpans.size > 0) {
        // The file's span ends with its handle, whether or not release itself is traced.
        const handle = op.args[1] as number;
        fileSpans.get(handle)?.end();
        fileSpans.delete(handle);
      }
      if (!wanted(op)) return next();
      const started = performance.now();
      const fh = FILE_OPS.has(op.name) ? (op.args[1] as number) : undefined;
      const done = (v: unknown): unknown => {
        const outcome = outcomeOf(v);
        if ((op.name === 'open' || op.name === 'create') && outcome === 'ok' && v) opened(op, v as OpenResult);
        finish(op, started, fh, outcome, v);
        return v;
      };
      const failed = (err: unknown): never => {
        finish(op, started, fh, errnoName(toErrno(err)), undefined);
        throw err;
      };
      let r: unknown;
      try {
        r = next();
      } catch (err) {
        return failed(err);
      }
      return r instanceof Promise ? r.then(done, failed) : done(r);
    },
  };
}
