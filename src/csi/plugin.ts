// Assembles the CSI node plugin: proto, state, who runs the daemons (the
// plugin itself, or the mounter when a socket is given), volume manager,
// services, server.
import type { MetricsData } from '../config/metrics-data.ts';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { log } from '../util/log.ts';
import { resolveHostRoots } from './attributes.ts';
import { DRIVER_NAME, DRIVER_VERSION, identityService } from './identity.ts';
import { nodeService } from './node.ts';
import { csiFeatures, loadCsi } from './proto.ts';
import { startServer, trimWhenQuiet, type ServiceBinding } from './server.ts';
import { JsonFileState } from './state.ts';
import { testControllerService } from './test-controller.ts';
import { VolumeManager } from './volumes.ts';
import { directDaemons, mounterDaemons } from './daemons.ts';
import { startNodeMetrics } from './metrics.ts';
import { parseListen } from '../telemetry/listen.ts';

export interface PluginOptions {
  endpoint: string;
  nodeId: string;
  stateDir: string;
  hostRoots: string[];
  /** The largest memory backend a volume may have, in bytes; undefined: no limit. */
  maxMemoryBytes?: number;
  /**
   * Tests only: the Controller service csi-sanity needs to create volumes.
   * 'hidden' serves it without advertising it (the node-only plugin as
   * deployed); 'advertised' also lets csi-sanity's end-to-end node tests run.
   */
  testController?: 'off' | 'hidden' | 'advertised';
  /** HOST:PORT of the node's Prometheus endpoint (all volumes); none when unset. */
  metrics?: string;
  /** Data mode of every volume's metrics layer (default observe). */
  metricsData?: MetricsData;
  /**
   * The mounter's socket (`interposer csi mounter`): it runs the volume
   * daemons, so they outlive this plugin's container. Unset: the plugin
   * spawns them itself, and they outlive its process but not its container.
   */
  mounterSocket?: string;
}

export interface Plugin {
  socket: string;
  volumes: VolumeManager;
  /** Stops serving CSI; mounts and their daemons keep running. */
  close(): Promise<void>;
}

const MOUNTER_WAIT_MS = 10_000;

export async function startPlugin(o: PluginOptions): Promise<Plugin> {
  const csi = loadCsi();
  const state = new JsonFileState(join(o.stateDir, 'state.json'));
  const daemons = o.mounterSocket ? mounterDaemons(o.mounterSocket) : directDaemons();
  // At pod start the mounter's container may come up a moment after this one.
  if (o.mounterSocket) await daemons.ready(MOUNTER_WAIT_MS);
  const volumes = new VolumeManager({
    stateDir: o.stateDir,
    state,
    daemons,
    policy: {
      hostRoots: resolveHostRoots(o.hostRoots),
      otlpEndpoint: process.env.OTEL_EXPORTER_OTLP_ENDPOINT || undefined,
      maxMemoryBytes: o.maxMemoryBytes,
    },
    metrics: o.metrics !== undefined ? (o.metricsData ?? 'observe') : undefined,
  });
  const metricsServer = o.metrics ? await startNodeMetrics(parseListen(o.metrics), volumes) : undefined;
  let ready = false;
  const services: ServiceBinding[] = [
    {
      definition: serviceOf(csi.Identity),
      impl: identityService({ ready: () => ready, advertiseController: o.testController === 'advertised' }),
    },
    { definition: serviceOf(csi.Node), impl: nodeService({ nodeId: o.nodeId, volumes, features: csiFeatures(csi) }) },
  ];
  if (o.testController && o.testController !== 'off')
    services.push({ definition: serviceOf(csi.Controller), impl: testControllerService() });
  await volumes.reconcile();
  const stopWatch = volumes.watch();
  const server = await startServer(o.endpoint, services);
  ready = true;
  log.info(
    {
      driver: DRIVER_NAME,
      version: DRIVER_VERSION,
      socket: server.path,
      nodeId: o.nodeId,
      stateDir: o.stateDir,
      hostRoots: o.hostRoots,
      daemons: o.mounterSocket ? `mounter at ${o.mounterSocket}` : 'spawned by the plugin',
    },
    'csi plugin serving',
  );
  trimWhenQuiet();
  return {
    socket: server.path,
    volumes,
    close: async () => {
      stopWatch();
      metricsServer?.close();
      await server.close();
    },
  };
}

function serviceOf(ctor: grpc.ServiceClientConstructor): grpc.ServiceDefinition {
  return ctor.service;
}
