// Duration histograms kept outside the OpenTelemetry SDK (src/telemetry/histograms.ts): buckets as
// OpenTelemetry's explicit-bucket histogram defines them, one series per label set, exported on collect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataPointType, type HistogramMetricData } from '@opentelemetry/sdk-metrics';
import { DurationHistograms } from '../../src/telemetry/histograms.ts';

test('a value falls in the first bucket whose bound it does not exceed; above every bound, the last', async () => {
  const h = new DurationHistograms({ name: 'd_seconds', description: 'd', bounds: [0.001, 0.01, 0.1], scope: 's' });
  const s = h.seriesOf({ op: 'read' });
  for (const v of [0.0005, 0.001, 0.002, 0.01, 0.5, 2]) s.record(v);
  assert.equal(h.seriesOf({ op: 'read' }), s, 'equal label sets share a series');
  h.seriesOf({ op: 'write' }); // never recorded: not exported

  const { resourceMetrics } = await h.collect();
  assert.equal(resourceMetrics.scopeMetrics.length, 1);
  assert.equal(resourceMetrics.scopeMetrics[0].scope.name, 's');
  const metric = resourceMetrics.scopeMetrics[0].metrics[0] as HistogramMetricData;
  assert.equal(metric.dataPointType, DataPointType.HISTOGRAM);
  assert.equal(metric.descriptor.name, 'd_seconds');
  assert.equal(metric.dataPoints.length, 1);
  const p = metric.dataPoints[0];
  assert.deepEqual(p.attributes, { op: 'read' });
  assert.deepEqual(p.value.buckets, { boundaries: [0.001, 0.01, 0.1], counts: [2, 2, 0, 2] });
  assert.equal(p.value.count, 6);
  assert.equal(p.value.min, 0.0005);
  assert.equal(p.value.max, 2);
  assert.ok(Math.abs((p.value.sum ?? 0) - 2.5135) < 1e-9);
});
