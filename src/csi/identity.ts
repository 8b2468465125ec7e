// CSI Identity service: who the plugin is and whether it is ready. A node-only
// plugin advertises no plugin capabilities (no CONTROLLER_SERVICE).

/** Domain-style, ≤63 characters, starting and ending with a letter (csi-sanity checks the letters). */
export const DRIVER_NAME = 'interposer.csi.dev';
export const DRIVER_VERSION = '0.1.0';

export interface IdentityOptions {
  /** False until the state is loaded and reconciled. */
  ready: () => boolean;
  /** Tests only (see PluginOptions.testController). */
  advertiseController?: boolean;
}

export function identityService(o: IdentityOptions) {
  return {
    GetPluginInfo: async () => ({ name: DRIVER_NAME, vendor_version: DRIVER_VERSION, manifest: {} }),
    GetPluginCapabilities: async () => ({
      capabilities: o.advertiseController ? [{ service: { type: 'CONTROLLER_SERVICE' } }] : [],
    }),
    Probe: async () => ({ ready: { value: o.ready() } }),
  };
}
