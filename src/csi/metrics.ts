// The node's one Prometheus endpoint: on each scrape, gather the metrics of
// every published volume's daemon (from its control socket) and add the
// plugin's own: how many volumes, whether each daemon is up, and with a
// mounter whether it answers. A daemon the mounter runs creates its control
// socket where the plugin looks for it (controlSocketFor): the chart shares
// that directory between the two containers.
import type { Server } from 'node:http';
import { controlSocketFor } from '../control/socket-path.ts';
import { mergeExpositions } from '../telemetry/merge.ts';
import { listenError } from '../telemetry/listen.ts';
import { http } from '../util/http.ts';
import { log } from '../util/log.ts';
import type { VolumeManager } from './volumes.ts';
import type { VolumeCondition } from './proto.ts';
import type { VolumeRecord } from './state.ts';

const SCRAPE_TIMEOUT_MS = 2000;

function scrapeDaemon(target: string): Promise<string> {
  return new Promise((resolve) => {
    const req = http.request({ socketPath: controlSocketFor(target), path: '/metrics', timeout: SCRAPE_TIMEOUT_MS }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(res.statusCode === 200 ? text : ''));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
    req.end();
  });
}

const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');

function pluginMetrics(records: { rec: VolumeRecord; condition: VolumeCondition }[], mounterUp: boolean | undefined): string {
  const lines = [
    '# HELP interposer_csi_volumes Volumes published on this node',
    '# TYPE interposer_csi_volumes gauge',
    `interposer_csi_volumes ${records.length}`,
    '# HELP interposer_csi_volume_up Whether the volume daemon is serving (1) or dead (0)',
    '# TYPE interposer_csi_volume_up gauge',
  ];
  for (const { rec: r, condition } of records) {
    const volume = /\/volumes\/kubernetes\.io~csi\/([^/]+)\/mount$/.exec(r.targetPath)?.[1] ?? r.volumeId;
    const labels = `volume="${esc(volume)}",namespace="${esc(r.labels.namespace ?? '')}",pod="${esc(r.labels.pod ?? '')}"`;
    lines.push(`interposer_csi_volume_up{${labels}} ${condition.abnormal ? 0 : 1}`);
  }
  if (mounterUp !== undefined) {
    lines.push(
      '# HELP interposer_csi_mounter_up Whether the mounter that runs the volume daemons answers (1) or not (0)',
      '# TYPE interposer_csi_mounter_up gauge',
      `interposer_csi_mounter_up ${mounterUp ? 1 : 0}`,
    );
  }
  return `${lines.join('\n')}\n`;
}

export async function startNodeMetrics(listen: { host: string; port: number }, volumes: VolumeManager): Promise<Server> {
  const server = http.createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end('try /metrics\n');
      return;
    }
    void (async () => {
      const { records, survey } = await volumes.conditions();
      const texts = await Promise.all(records.map(({ rec }) => scrapeDaemon(rec.targetPath)));
      return mergeExpositions([pluginMetrics(records, survey.mounterUp), ...texts]);
    })().then(
      (body) => res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(body),
      (err: unknown) => res.writeHead(500).end(`gathering metrics failed: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(listenError(`${listen.host}:${listen.port}`, err)));
    server.listen(listen.port, listen.host, resolve);
  });
  log.info(listen, 'node metrics endpoint serving');
  return server;
}
