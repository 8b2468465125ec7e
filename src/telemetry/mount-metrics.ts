// Metrics read from a mount's state when Prometheus scrapes: open files, how
// files are served (kernel passthrough or the daemon), whether the metrics
// layers count file data, faults injected per rule, time spent waiting in
// throttles, and spans exported or dropped.
import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api';
import { METRICS_DATA, type MetricsData } from '../config/metrics-data.ts';
import { isMetricsLayer } from '../layers/metrics.ts';
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
  // With data: kernel, interposer_bytes_total leaves out the files the kernel serves: this says so beside the bytes.
  const metricsLayers = meter.createObservableGauge('interposer_metrics_layers', {
    description:
      'Metrics layers in the stack, by data mode: observe (reads and writes go through the daemon and are counted) or kernel (files served by kernel passthrough are not counted)',
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
  const byData: Record<MetricsData, Attributes> = { observe: { ...labels, data: 'observe' }, kernel: { ...labels, data: 'kernel' } };
  const instruments = [open, opened, metricsLayers, faults, matched, waits, exported, dropped];
  const callback: BatchObservableCallback = (r) => {
    r.observe(open, mount.openFiles(), labels);
    const o = mount.opened();
    r.observe(opened, o.passthrough, passthrough);
    r.observe(opened, o.daemon, daemon);
    let waited = 0;
    const layersByData: Record<MetricsData, number> = { observe: 0, kernel: 0 };
    for (const layer of stack.layers()) {
      if (isMetricsLayer(layer)) layersByData[layer.data]++;
      waited += layer.waitedSeconds?.() ?? 0;
      for (const rule of layer.rules?.() ?? []) {
        const a = { ...labels, rule: rule.spec.name, kind: layer.kind };
        r.observe(faults, rule.counters.fired, a);
        r.observe(matched, rule.counters.matched, a);
      }
    }
    for (const data of METRICS_DATA) r.observe(metricsLayers, layersByData[data], byData[data]);
    r.observe(waits, waited, labels);
    for (const sink of traceSinks()) {
      r.observe(exported, spanCounts[sink].exported, { ...labels, sink });
      r.observe(dropped, spanCounts[sink].dropped, { ...labels, sink });
    }
  };
  meter.addBatchObservableCallback(callback, instruments);
  return () => meter.removeBatchObservableCallback(callback, instruments);
}
