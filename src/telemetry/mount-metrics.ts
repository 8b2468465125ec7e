// Metrics read from a mount's state when Prometheus scrapes: open files, how
// files are served (kernel passthrough or the daemon), faults injected per
// rule, and time spent waiting in throttles.
import type { Attributes, BatchObservableCallback, Meter } from '@opentelemetry/api';
import type { StackVfs } from '../layers/stack.ts';

export interface MountState {
  openFiles(): number;
  opened(): { passthrough: number; daemon: number };
}

export function registerMountMetrics(meter: Meter, labels: Attributes, stack: StackVfs, mount: MountState): () => void {
  const open = meter.createObservableUpDownCounter('interposer_open_files', { description: 'Files open through the mount' });
  const opened = meter.createObservableCounter('interposer_files_opened', {
    description: 'Files opened, by whether the kernel serves their data from the backing file (passthrough) or the daemon does',
  });
  const faults = meter.createObservableCounter('interposer_faults_injected', { description: 'Times each rule acted, by rule and layer kind' });
  const matched = meter.createObservableCounter('interposer_rule_matches', { description: 'Operations each rule matched' });
  const waits = meter.createObservableCounter('interposer_throttle_wait_seconds', { description: 'Time operations waited in throttles', unit: 's' });
  const passthrough = { ...labels, path: 'passthrough' };
  const daemon = { ...labels, path: 'daemon' };
  const instruments = [open, opened, faults, matched, waits];
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
  };
  meter.addBatchObservableCallback(callback, instruments);
  return () => meter.removeBatchObservableCallback(callback, instruments);
}
