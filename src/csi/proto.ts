// The CSI gRPC definitions, loaded from the spec's own csi.proto (copied into
// .tools/csi by scripts/fetch-csi-proto), never retyped. The TypeScript shapes
// below cover only the fields this plugin reads or writes, as proto-loader
// decodes them with the options in LOAD_OPTIONS.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';

export const DEFAULT_PROTO = resolve(import.meta.dirname, '../../.tools/csi/csi.proto');

/** snake_case fields as in the proto; enums as their names; unset scalars as defaults; oneofs named. */
export const LOAD_OPTIONS: Options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };

export interface CsiPackage {
  Identity: grpc.ServiceClientConstructor;
  Node: grpc.ServiceClientConstructor;
  Controller: grpc.ServiceClientConstructor;
  /** Present up to spec v1.12 (NodeGetVolumeStats.volume_condition); removed in v1.13. */
  VolumeCondition?: unknown;
}

/**
 * How this csi.proto reports a volume's health: spec ≤ v1.12 has the
 * VOLUME_CONDITION capability and NodeGetVolumeStats.volume_condition; v1.13
 * removed them for NodeGetVolumeHealth (GET_VOLUME_HEALTH, alpha).
 */
export interface CsiFeatures {
  volumeCondition: boolean;
  volumeHealth: boolean;
}

export function csiFeatures(pkg: CsiPackage): CsiFeatures {
  return { volumeCondition: pkg.VolumeCondition !== undefined, volumeHealth: 'NodeGetVolumeHealth' in pkg.Node.service };
}

/** Loads csi.proto from `path`, or $INTERPOSER_CSI_PROTO, or .tools/csi/csi.proto. */
export function loadCsi(path = process.env.INTERPOSER_CSI_PROTO ?? DEFAULT_PROTO): CsiPackage {
  if (!existsSync(path)) {
    throw new Error(`${path} is missing: run scripts/fetch-csi-proto (it copies csi.proto from the CSI spec Go module)`);
  }
  const def = loadSync(path, { ...LOAD_OPTIONS, includeDirs: [join(path, '..')] });
  const root = grpc.loadPackageDefinition(def) as unknown as { csi: { v1: CsiPackage } };
  return root.csi.v1;
}

export type AccessModeName =
  | 'UNKNOWN'
  | 'SINGLE_NODE_WRITER'
  | 'SINGLE_NODE_READER_ONLY'
  | 'MULTI_NODE_READER_ONLY'
  | 'MULTI_NODE_SINGLE_WRITER'
  | 'MULTI_NODE_MULTI_WRITER'
  | 'SINGLE_NODE_SINGLE_WRITER'
  | 'SINGLE_NODE_MULTI_WRITER';

export interface VolumeCapability {
  access_type?: 'mount' | 'block';
  mount?: { fs_type: string; mount_flags: string[]; volume_mount_group: string } | null;
  block?: object | null;
  access_mode: { mode: AccessModeName } | null;
}

export interface NodePublishVolumeRequest {
  volume_id: string;
  publish_context: Record<string, string>;
  staging_target_path: string;
  target_path: string;
  volume_capability: VolumeCapability | null;
  readonly: boolean;
  secrets: Record<string, string>;
  volume_context: Record<string, string>;
}

export interface NodeUnpublishVolumeRequest {
  volume_id: string;
  target_path: string;
}

export interface NodeGetVolumeStatsRequest {
  volume_id: string;
  volume_path: string;
  staging_target_path: string;
}

export interface VolumeUsage {
  available: number;
  total: number;
  used: number;
  unit: 'BYTES' | 'INODES';
}

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

export interface NodeGetVolumeStatsResponse {
  usage: VolumeUsage[];
  /** Only with spec ≤ v1.12 (see CsiFeatures). */
  volume_condition?: VolumeCondition;
}

export interface NodeGetVolumeHealthRequest {
  volume_id: string;
  volume_publish_path: string;
}

export interface VolumeHealthEntry {
  status: 'DEGRADED' | 'INACCESSIBLE' | 'DATA_LOSS';
  /** CamelCase, for machines. */
  reason: string;
  message: string;
}

/** The subset of CreateVolume the test-only controller reads. */
export interface CreateVolumeRequest {
  name: string;
  parameters: Record<string, string>;
  volume_capabilities: VolumeCapability[];
  capacity_range: { required_bytes: string; limit_bytes: string } | null;
}

export interface ValidateVolumeCapabilitiesRequest {
  volume_id: string;
  volume_context: Record<string, string>;
  volume_capabilities: VolumeCapability[];
  parameters: Record<string, string>;
}
