// interposer: the command line.
import { endProcess } from './end-process.ts';
import { Command, CommanderError, Option } from 'commander';
import { ConfigError } from '../config/load.ts';
import { MountError } from '../fuse/mount.ts';
import { addMountFlags } from './options.ts';
import { mountCommand } from './mount.ts';
import { runCommand } from './run.ts';
import { umountCommand } from './umount.ts';
import { demoCommand } from './demo.ts';
import { addCtlCommand } from './ctl.ts';
import { serveFdCommand } from './serve-fd.ts';
import { csiCommand, csiMounterCommand } from './csi.ts';
import { addReportCommand } from './report.ts';

const program = new Command('interposer')
  .description('A FUSE filesystem that observes and disturbs every storage operation.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

addMountFlags(
  program
    .command('mount')
    .description('Mount an interposed filesystem on MOUNTPOINT (in the foreground unless --daemon).')
    .argument('<mountpoint>', 'an existing empty directory'),
)
  .option('-d, --daemon', 'detach once mounted; stop it with: interposer umount MOUNTPOINT')
  .option('--log <file>', 'with --daemon: where the daemon writes its log (default: discarded)')
  .option(
    '-o, --options <list>',
    'mount options as /etc/fstab writes them, comma-separated: any flag above with _ for -, e.g. allow_other,cache=direct; ' +
      'source=BACKEND, fsname=NAME (the source df shows), ro, noexec, noatime, nodiratime, relatime, strictatime, lazytime, sync, dirsync',
    (list: string, lists: string[]) => [...lists, list],
    [],
  )
  .addOption(
    new Option('--config-on-stdin', 'the config as --daemon validated it, as JSON on stdin (flags and file not read again)').hideHelp(),
  )
  .action(mountCommand);

program
  .command('umount')
  .alias('unmount')
  .description('Unmount an interposed filesystem (also cleans up one whose daemon died).')
  .argument('<mountpoint>')
  .option('-l, --lazy', 'detach now even if files are open')
  .action(umountCommand);

addMountFlags(
  program
    .command('run')
    .description('Mount a fresh interposed directory, run COMMAND inside it, unmount, exit with its status.')
    .argument('<command...>', 'the command and its arguments (put them after --)'),
)
  .option('--mountpoint <dir>', 'mount here instead of a new temporary directory')
  .action(runCommand);

addCtlCommand(program);
addReportCommand(program);

program
  .command('schema')
  .description('Print the JSON Schema of configuration files, for editors (docs/config.schema.json holds the same).')
  .action(async () => {
    const { configJsonSchema } = await import('../config/json-schema.ts');
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`);
  });

program
  .command('demo')
  .description('Mount a memory-backed filesystem, run a small workload in it and print what reached the daemon.')
  .action(demoCommand);

program
  .command('serve', { hidden: true })
  .description('Serve a FUSE connection mounted by someone else (the CSI plugin starts one per volume).')
  .argument('<mountpoint>')
  .requiredOption('--fd <n>', 'the mounted /dev/fuse file descriptor, inherited from the parent')
  .option('--config-json <json>', 'the configuration document as JSON, validated here')
  .option(
    '--validated-json <json>',
    'or { config, rawLayers } as the caller validated it (defaults filled in, units as numbers): used as is',
  )
  .option('--exit-with-parent', 'exit (leaving the mount dead) when the parent that started this daemon closes its IPC channel')
  .action(serveFdCommand);

program
  .command('csi')
  .description('Run the Kubernetes CSI node plugin (interposed ephemeral inline volumes).')
  .option(
    '--endpoint <endpoint>',
    'unix socket to serve CSI on (unix:///csi/csi.sock or a path)',
    process.env.CSI_ENDPOINT ?? 'unix:///csi/csi.sock',
  )
  .option('--node-id <id>', "this node's name as Kubernetes knows it", process.env.KUBE_NODE_NAME ?? process.env.NODE_NAME)
  .option(
    '--state-dir <dir>',
    'where volume state, scratch directories and daemon logs live',
    process.env.INTERPOSER_STATE_DIR ?? '/var/lib/interposer-csi',
  )
  .option(
    '--host-root <dir>',
    'a host directory pods may mirror paths beneath (repeatable; also $INTERPOSER_HOST_ROOTS, colon-separated)',
    (v: string, acc: string[]) => [...acc, v],
    [] as string[],
  )
  .option('--metrics <host:port>', "the node's one Prometheus endpoint for all volumes (default 0.0.0.0:$INTERPOSER_METRICS_PORT when set)")
  .option(
    '--max-memory-size <size>',
    'the largest memory backend a pod may ask for, e.g. 4GiB (memory volumes are node RAM; default: no limit)',
    process.env.INTERPOSER_MAX_MEMORY_SIZE,
  )
  .option(
    '--metrics-data <mode>',
    'observe: volume metrics count every read and write (data through the daemons); kernel: keep kernel passthrough, reads and writes of passed-through files are not counted',
    process.env.INTERPOSER_METRICS_DATA,
  )
  .option('--test-controller [mode]', 'tests only: serve a Controller service for csi-sanity, "hidden" (default) or "advertised"')
  .option(
    '--mounter-socket <path>',
    'hand volume daemons to the mounter on this socket (interposer csi mounter), so they survive a restart of this container',
    process.env.INTERPOSER_MOUNTER_SOCKET,
  )
  .action(csiCommand)
  .command('mounter')
  .description('Run the process that owns the volume daemons of the CSI plugin on this node (its own container beside the plugin).')
  .option(
    '--socket <path>',
    'unix socket the plugin hands volumes over on',
    process.env.INTERPOSER_MOUNTER_SOCKET ?? '/run/interposer/mounter.sock',
  )
  .action(csiMounterCommand);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof ConfigError || err instanceof MountError) {
    process.stderr.write(`interposer: ${err.message}\n`);
    endProcess(2);
  }
  if (err instanceof CommanderError) endProcess(err.exitCode);
  throw err;
}
