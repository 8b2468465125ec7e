// Metrics: counts, latency and bytes (read, written, copied) of every op that reaches this layer,
// labelled by op and result (ok or the errno name), never by path. With `data: kernel` the layer
// does not ask for file data, so files nothing else needs the data of keep kernel passthrough and
// their reads and writes never reach it.
import type { Attributes, Meter } from '@opentelemetry/api';
import type { MetricsData } from '../config/metrics-data.ts';
import { outcomeOf } from '../vfs/answer.ts';
import { errnoName, toErrno } from '../vfs/errors.ts';
import type { Op } from './op.ts';
import type { Layer, Next } from './stack.ts';
import { performance } from '../util/clock.ts';

export interface MetricsLayer extends Layer {
  readonly kind: 'metrics';
  /** observe: reads and writes go through the daemon and are counted; kernel: passthrough files' are not. */
  readonly data: MetricsData;
}

export function isMetricsLayer(layer: Layer): layer is MetricsLayer {
  return layer.kind === 'metrics' && 'data' in layer;
}

/** What the layers of one label set (one mount) have counted, kept across rebuilds of the stack. */
interface Tallies {
  /** Per (op, result): its label set, built once, and the count. */
  readonly ops: Map<string, { attrs: Attributes; n: number }>;
  readonly moved: { read: number; write: number; copy: number };
  readonly labels: Attributes;
}

// Counts are kept here and handed to OpenTelemetry when it collects (observable counters): a synchronous
// add() hashes its attribute set on every call, ~1 µs a counter per op, which made 4 KiB reads through the
// daemon at queue depth 16 a third slower. They live per meter and label set rather than per layer, so
// that a stack rebuilt by `ctl set` carries on counting (a counter must never go back) and two metrics
// layers of one mount add up, as synchronous counters would.
const talliesByMeter = new WeakMap<Meter, Map<string, Tallies>>();

function talliesFor(meter: Meter, labels: Attributes): Tallies {
  let byLabels = talliesByMeter.get(meter);
  if (!byLabels) {
    const all = new Map<string, Tallies>();
    byLabels = all;
    talliesByMeter.set(meter, all);
    meter
      .createObservableCounter('interposer_operations', { description: 'Operations answered, by op and result' })
      .addCallback((result) => {
        for (const t of all.values()) for (const o of t.ops.values()) result.observe(o.n, o.attrs);
      });
    meter
      .createObservableCounter('interposer_bytes', {
        description: 'Bytes moved, by direction: read, write, or copy (copy_file_range, within the backend)',
        unit: 'By',
      })
      .addCallback((result) => {
        // A direction appears once it has moved something, as a synchronous counter's series would.
        for (const t of all.values())
          for (const direction of ['read', 'write', 'copy'] as const)
            if (t.moved[direction] > 0) result.observe(t.moved[direction], { ...t.labels, direction });
      });
  }
  const key = JSON.stringify(labels);
  let t = byLabels.get(key);
  if (!t) byLabels.set(key, (t = { ops: new Map(), moved: { read: 0, write: 0, copy: 0 }, labels }));
  return t;
}

/** Where durations go: one series per label set, found once per layer and op (telemetry/histograms.ts). */
export interface DurationSource {
  seriesOf(attributes: Attributes): { record(seconds: number): void };
}

/** What metrics layers record into: a meter for the counts, and the duration histograms kept beside it. */
export interface MetricsSink {
  meter: Meter;
  durations: DurationSource;
}

export function createMetricsLayer(sink: MetricsSink, labels: Attributes, data: MetricsData = 'observe'): MetricsLayer {
  const { meter, durations } = sink;
  const tallies = talliesFor(meter, labels);
  const tally = (op: string, result: string): { attrs: Attributes; n: number } => {
    const key = `${op}|${result}`;
    let t = tallies.ops.get(key);
    if (!t) tallies.ops.set(key, (t = { attrs: { ...labels, op, result }, n: 0 }));
    return t;
  };
  // The common case, per op name without building a key.
  const okByOp = new Map<string, { attrs: Attributes; n: number }>();
  const seriesByOp = new Map<string, { record(seconds: number): void }>();
  const moved = tallies.moved;

  const record = (op: Op, started: number, result: string, value: unknown): void => {
    if (result === 'ok') {
      let t = okByOp.get(op.name);
      if (!t) okByOp.set(op.name, (t = tally(op.name, 'ok')));
      t.n++;
    } else tally(op.name, result).n++;
    let series = seriesByOp.get(op.name);
    if (!series) seriesByOp.set(op.name, (series = durations.seriesOf({ ...labels, op: op.name })));
    series.record((performance.now() - started) / 1000);
    if (result !== 'ok' || typeof value !== 'number') return;
    if (op.name === 'read') moved.read += value;
    else if (op.name === 'write') moved.write += value;
    // A copy is counted once, as itself: its bytes move within the backend and never pass through the daemon as a
    // read and a write, so adding them to those would double them and hide that the application copied.
    else if (op.name === 'copyFileRange') moved.copy += value;
  };

  return {
    kind: 'metrics',
    data,
    disturbs: false,
    around(op: Op, next: Next) {
      const started = performance.now();
      let r: unknown;
      try {
        r = next();
      } catch (err) {
        record(op, started, errnoName(toErrno(err)), undefined);
        throw err;
      }
      if (!(r instanceof Promise)) {
        record(op, started, outcomeOf(r), r);
        return r;
      }
      return r.then(
        (v) => (record(op, started, outcomeOf(v), v), v),
        (err) => {
          record(op, started, errnoName(toErrno(err)), undefined);
          throw err;
        },
      );
    },
    // Counting bytes needs the reads and writes themselves; in kernel mode the kernel keeps them (and the bytes go uncounted).
    needs: (shortcut) => shortcut === 'data' && data === 'observe',
  };
}
