// CSI Node service. Each handler follows the same rhythm: check arguments
// (INVALID_ARGUMENT, before anything on the node changes), lock the volume and
// target (ABORTED if busy), then let the volume manager act and record.
import { isAbsolute } from 'node:path';
import { FS_TYPE } from '../fuse/mount.ts';
import { invalidArgument } from './errors.ts';
import type {
  CsiFeatures,
  NodeGetVolumeHealthRequest,
  NodeGetVolumeStatsRequest,
  NodePublishVolumeRequest,
  NodeUnpublishVolumeRequest,
  VolumeCapability,
} from './proto.ts';
import type { VolumeManager } from './volumes.ts';

export interface NodeOptions {
  nodeId: string;
  volumes: VolumeManager;
  /** What the loaded csi.proto can express about volume health. */
  features: CsiFeatures;
}

const FS_TYPES = ['', 'fuse', 'interposer', FS_TYPE];
const WRITER_MODES = ['SINGLE_NODE_WRITER', 'SINGLE_NODE_SINGLE_WRITER', 'SINGLE_NODE_MULTI_WRITER'];
const READER_MODES = ['SINGLE_NODE_READER_ONLY'];

function required(value: string, field: string): void {
  if (!value) throw invalidArgument(`${field} is required`);
}

/** Checks the capability; returns whether it forces read-only. */
function checkCapability(cap: VolumeCapability | null): boolean {
  if (!cap) throw invalidArgument('volume_capability is required');
  if (cap.block || cap.access_type === 'block')
    throw invalidArgument('block volumes are not supported; interposer volumes are filesystems (use volumeMode Filesystem)');
  const mode = cap.access_mode?.mode ?? 'UNKNOWN';
  if (![...WRITER_MODES, ...READER_MODES].includes(mode)) {
    throw invalidArgument(
      `access mode ${mode} is not supported; interposer volumes are single-node (${[...WRITER_MODES, ...READER_MODES].join(', ')})`,
    );
  }
  const fsType = cap.mount?.fs_type ?? '';
  if (!FS_TYPES.includes(fsType)) throw invalidArgument(`fsType "${fsType}" is not supported; leave csi.fsType empty`);
  if (cap.mount?.mount_flags?.length)
    throw invalidArgument(
      `mount flags are not supported (got ${cap.mount.mount_flags.join(',')}); configure the volume with volumeAttributes`,
    );
  return READER_MODES.includes(mode);
}

function fingerprint(req: NodePublishVolumeRequest): string {
  const cap = req.volume_capability!;
  const ctx = Object.entries(req.volume_context ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify({ mode: cap.access_mode?.mode, fsType: cap.mount?.fs_type ?? '', readonly: req.readonly, ctx });
}

export function nodeService(o: NodeOptions) {
  return {
    NodeGetCapabilities: async () => ({
      capabilities: [
        { rpc: { type: 'GET_VOLUME_STATS' } },
        ...(o.features.volumeCondition ? [{ rpc: { type: 'VOLUME_CONDITION' } }] : []),
        ...(o.features.volumeHealth ? [{ rpc: { type: 'GET_VOLUME_HEALTH' } }] : []),
      ],
    }),

    NodeGetInfo: async () => ({ node_id: o.nodeId, max_volumes_per_node: 0 }),

    NodePublishVolume: async (req: NodePublishVolumeRequest) => {
      required(req.volume_id, 'volume_id');
      required(req.target_path, 'target_path');
      const readerOnly = checkCapability(req.volume_capability);
      if (!isAbsolute(req.target_path)) throw invalidArgument(`target_path ${req.target_path} must be absolute`);
      await o.volumes.locked(req.volume_id, req.target_path, () =>
        o.volumes.publish({
          volumeId: req.volume_id,
          targetPath: req.target_path,
          readonly: req.readonly || readerOnly,
          fingerprint: fingerprint(req),
          volumeContext: req.volume_context ?? {},
        }),
      );
      return {};
    },

    NodeUnpublishVolume: async (req: NodeUnpublishVolumeRequest) => {
      required(req.volume_id, 'volume_id');
      required(req.target_path, 'target_path');
      if (!isAbsolute(req.target_path)) throw invalidArgument(`target_path ${req.target_path} must be absolute`);
      await o.volumes.locked(req.volume_id, req.target_path, () => o.volumes.unpublish(req.volume_id, req.target_path));
      return {};
    },

    NodeGetVolumeStats: async (req: NodeGetVolumeStatsRequest) => {
      required(req.volume_id, 'volume_id');
      required(req.volume_path, 'volume_path');
      const { usage, condition } = await o.volumes.stats(req.volume_id, req.volume_path);
      return o.features.volumeCondition ? { usage, volume_condition: condition } : { usage };
    },

    // Spec v1.13's replacement for volume_condition: a dead daemon or a lost mount is INACCESSIBLE.
    NodeGetVolumeHealth: async (req: NodeGetVolumeHealthRequest) => {
      required(req.volume_id, 'volume_id');
      const rec = o.volumes.lookup(req.volume_id, req.volume_publish_path || undefined);
      const c = await o.volumes.condition(rec);
      const health_statuses = c.abnormal ? [{ status: 'INACCESSIBLE', reason: 'DaemonNotServing', message: c.message }] : [];
      return { volume_health: { volume_id: rec.volumeId, health_statuses } };
    },
  };
}
