// The metrics layer's data modes, apart from the schema: the CLI, the CSI plugin and the mount
// metrics check against them without loading zod.

/**
 * Whether a metrics layer sees file data. observe: every read and write goes through the daemon, so bytes and their
 * latency are counted (kernel passthrough off). kernel: files nothing else needs the data of keep kernel passthrough;
 * their reads and writes are then neither counted nor slowed (interposer_files_opened_total{served_by} shows how many).
 */
export const METRICS_DATA = ['observe', 'kernel'] as const;
export type MetricsData = (typeof METRICS_DATA)[number];
