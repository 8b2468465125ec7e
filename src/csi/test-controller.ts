// A Controller service for csi-sanity only (enabled by --test-controller, never
// advertised in GetPluginCapabilities). csi-sanity has no ephemeral mode: every
// test that publishes first calls CreateVolume, so this one "creates" volumes
// that exist only as names and echoes the parameters into volume_context, the
// way kubelet hands volumeAttributes to NodePublishVolume.
import { createHash } from 'node:crypto';
import { invalidArgument, notFound } from './errors.ts';
import type { CreateVolumeRequest, ValidateVolumeCapabilitiesRequest } from './proto.ts';

export function testControllerService() {
  const volumes = new Map<string, Record<string, string>>();
  return {
    ControllerGetCapabilities: async () => ({ capabilities: [] }),

    CreateVolume: async (req: CreateVolumeRequest) => {
      if (!req.name) throw invalidArgument('name is required');
      if (!req.volume_capabilities?.length) throw invalidArgument('volume_capabilities is required');
      const id = `sanity-${createHash('sha256').update(req.name).digest('hex').slice(0, 32)}`;
      volumes.set(id, { ...req.parameters });
      return { volume: { volume_id: id, capacity_bytes: 0, volume_context: { ...req.parameters } } };
    },

    DeleteVolume: async (req: { volume_id: string }) => {
      if (!req.volume_id) throw invalidArgument('volume_id is required');
      volumes.delete(req.volume_id);
      return {};
    },

    ValidateVolumeCapabilities: async (req: ValidateVolumeCapabilitiesRequest) => {
      if (!req.volume_id) throw invalidArgument('volume_id is required');
      if (!req.volume_capabilities?.length) throw invalidArgument('volume_capabilities is required');
      if (!volumes.has(req.volume_id)) throw notFound(`volume ${req.volume_id} does not exist`);
      return {
        confirmed: { volume_context: req.volume_context, volume_capabilities: req.volume_capabilities, parameters: req.parameters },
      };
    },
  };
}
