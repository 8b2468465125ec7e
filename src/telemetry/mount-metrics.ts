// Metrics read from a mount's state when Prometheus scrapes: open files, how
// files are served (kernel passthrough or the daemon), faults injected per
// rule, time spent waiting in throttles, and spans exported or dropped.
import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api';
import type { StackVfs } from '../layers/stack.ts';
import { spanCounts, traceSinks } from './running.ts';

export interface MountState {
  openFiles(): number;
  opened(): { passthrough: number; daemon: number };
}

export function registerMountMetrics(meter: Meter, labels: Attributes, stack: StackVfs, mount: MountState): () => void {
  const open = meter.createObservableUpDownCounter('interposer_open_files', { description: 'Files open through the mount' });
  const opened = meter.createObservableCounter('interposer_files_opened', {
    description: 'Files opened, by whether the kernel serves their data from the backing file (passthrough) or the daemon does',
  });
  const faults = meter.createObservableCounter('interposer_faults_injected', {
    description: 'Times each rule acted, by rule and layer kind',
  });
  const matched = meter.createObservableCounter('interposer_rule_matches', { description: 'Operations each rule matched' });
  const waits = meter.createObservableCounter('interposer_throttle_wait_seconds', {
    description: 'Time operations waited in throttles',
    unit: 's',
  });
  const exported = meter.createObservableCounter('interposer_spans_exported', {
    description: 'Trace spans delivered, by sink (otlp or file)',
  });
  const dropped = meter.createObservableCounter('interposer_spans_dropped', {
    description: 'Trace spans lost, by sink: the collector was down or slow, the file not writable, or the export queue full',
  });
  // Not `path`: no metric carries a label of that name, so nobody mistakes it for a file path.
  const passthrough = { ...labels, served_by: 'passthrough' };
  const daemon = { ...labels, served_by: 'daemon' };
  const instruments = [open, opened, faults, matched, waits, exported, dropped];
  const callback: BatchObservableCallback = (r) => {
    r.observe(open, mount.openFiles(), labels);
    const o = mount.opened();
    r.observe(opened, o.passthrough, passthrough);
    r.observe(opened, o.daemon, daemon);
    let waited = 0;
    for (const layer of stack.layers()) {
      waited += layer.waitedSeconds?.() ?? 0;
      for (const rule of layer.rules?.() ?? []) {
        const a = { ...labels, rule: rule.spec.name, kind: layer.kind };
        r.observe(faults, rule.counters.fired, a);
        r.observe(matched, rule.counters.matched, a);
      }
    }
    r.observe(waits, waited, labels);
    for (const sink of traceSinks()) {
      r.observe(exported, spanCounts[sink].exported, { ...labels, sink });
      r.observe(dropped, spanCounts[sink].dropped, { ...labels, sink });
    }
  };
  meter.addBatchObservableCallback(callback, instruments);
  return () => meter.removeBatchObservableCallback(callback, instruments);
}
