// Metrics: counts, latency and bytes (read, written, copied) of every op that reaches this layer,
// labelled by op and result (ok or the errno name), never by path. With `data: kernel` the layer
// does not ask for file data, so files nothing else needs the data of keep kernel passthrough and
// their reads and writes never reach it.
import type { Attributes, Meter } from '@opentelemetry/api';
import type { MetricsData } from '../config/layers.ts';
import { errnoName, toErrno } from '../vfs/errors.ts';
import type { Op } from './op.ts';
import type { Layer, Next } from './stack.ts';

export interface MetricsLayer extends Layer {
  readonly kind: 'metrics';
  /** observe: reads and writes go through the daemon and are counted; kernel: passthrough files' are not. */
  readonly data: MetricsData;
}

export function isMetricsLayer(layer: Layer): layer is MetricsLayer {
  return layer.kind === 'metrics' && 'data' in layer;
}

export function createMetricsLayer(meter: Meter, labels: Attributes, data: MetricsData = 'observe'): MetricsLayer {
  const ops = meter.createCounter('interposer_operations', { description: 'Operations answered, by op and result' });
  const duration = meter.createHistogram('interposer_operation_duration_seconds', {
    description: 'Time to answer an operation, from this layer down',
    unit: 's',
  });
  const bytes = meter.createCounter('interposer_bytes', {
    description: 'Bytes moved, by direction: read, write, or copy (copy_file_range, within the backend)',
    unit: 'By',
  });
  // Label sets are built once per (op, result) and reused: no allocation per op.
  const cache = new Map<string, Attributes>();
  const attrs = (op: string, result: string): Attributes => {
    const key = `${op}|${result}`;
    let a = cache.get(key);
    if (!a) cache.set(key, (a = { ...labels, op, result }));
    return a;
  };
  const opOnly = new Map<string, Attributes>();
  const readAttrs = { ...labels, direction: 'read' };
  const writeAttrs = { ...labels, direction: 'write' };
  // A copy is counted once, as itself: its bytes move within the backend and never pass through the daemon as a
  // read and a write, so adding them to those would double them and hide that the application copied.
  const copyAttrs = { ...labels, direction: 'copy' };

  const record = (op: Op, started: number, result: string, value: unknown): void => {
    ops.add(1, attrs(op.name, result));
    let a = opOnly.get(op.name);
    if (!a) opOnly.set(op.name, (a = { ...labels, op: op.name }));
    duration.record((performance.now() - started) / 1000, a);
    if (result !== 'ok') return;
    if (op.name === 'read' && typeof value === 'number') bytes.add(value, readAttrs);
    else if (op.name === 'write' && typeof value === 'number') bytes.add(value, writeAttrs);
    else if (op.name === 'copyFileRange' && typeof value === 'number') bytes.add(value, copyAttrs);
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
        record(op, started, 'ok', r);
        return r;
      }
      return r.then(
        (v) => (record(op, started, 'ok', v), v),
        (err) => {
          record(op, started, errnoName(toErrno(err)), undefined);
          throw err;
        },
      );
    },
    // Counting bytes needs the reads and writes themselves; in kernel mode the kernel keeps them (and the bytes go uncounted).
    needsData: () => data === 'observe',
  };
}
