/**
 * The promvault command line. Each command validates all of its input (flags, selectors,
 * times, the source, the store) before it writes anything.
 */
import { Command, Option } from 'commander';
import { version } from '../package.json';
import { EXIT_CODES_HELP, redactOutput, reportError } from './output';
import { DEFAULT_MAX_SAMPLES_PER_QUERY, SOURCE_MODES } from '../lambdas/core/types';
import { registerGcCommand } from './gc';
import { registerRunCommand } from './run';

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * Each command's module (and the AWS SDK behind it) loads when that command runs, so `--help`
 * and `--version` start fast. `require`: the bundle (scripts/build-cli.js) is CommonJS.
 */
const backupCommand: typeof import('./backup').backupCommand = (...a) => require('./backup').backupCommand(...a);
const inspectCommand: typeof import('./inspect').inspectCommand = (...a) => require('./inspect').inspectCommand(...a);
const restoreCommand: typeof import('./restore').restoreCommand = (...a) => require('./restore').restoreCommand(...a);
const exportCommand: typeof import('./restore').exportCommand = (...a) => require('./restore').exportCommand(...a);
const federateCommand: typeof import('./federate').federateCommand = (...a) =>
  require('./federate').federateCommand(...a);
const verifyCommand: typeof import('./verify').verifyCommand = (...a) => require('./verify').verifyCommand(...a);

const replicasOption = () =>
  new Option(
    '--replicas <mode>',
    'how two or more replica URLs combine: merge (the default: the union of every replica, each sample once) or failover (the first replica that can serve the whole window)',
  );
/** --sigv4-region for the source or the target (`what`); --sigv4-service goes with it. */
const sigv4RegionOption = (what: string) =>
  new Option(
    '--sigv4-region <region>',
    `sign requests to the ${what} with AWS SigV4 for this region (Amazon Managed Prometheus); credentials from the AWS default chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or a role`,
  );
const sigv4ServiceOption = () =>
  new Option('--sigv4-service <service>', 'the SigV4 service name with --sigv4-region (default aps)');

const replicaLabelOption = () =>
  new Option(
    '--replica-label <name>',
    'label that tells replicas apart (e.g. prometheus_replica), dropped so replicas merge into one series; repeatable',
  ).argParser(collect);

/** Where a command writes (--s3-*) and how it authenticates to the source (--basic-auth*, --bearer-token-file, --header). */
const storeAndSourceOptions = (cmd: Command) =>
  cmd
    .option('--s3-endpoint <url>', 'S3-compatible endpoint, e.g. http://127.0.0.1:4568')
    .option('--region <region>', 'AWS region of the bucket')
    .option('--s3-timeout <duration>', 'longest wait for an S3 answer before a retry (default 60s)')
    .option('--basic-auth <user:password>', 'basic auth for the source (visible in the process list: prefer the file)')
    .option('--basic-auth-file <file>', 'file holding user:password for the source (or $PROMVAULT_BASIC_AUTH)')
    .option('--bearer-token-file <file>', 'bearer token for the source (or $PROMVAULT_BEARER_TOKEN)')
    .option('--header <name: value>', 'extra header for the source; repeatable', collect, []);

export function buildProgram(): Command {
  const program = new Command('promvault')
    .description('Serverless, verifiable backup and restore of Prometheus data')
    .version(version, '-V, --version', 'print the promvault version')
    .showHelpAfterError()
    .exitOverride();

  const backup = program
    .command('backup')
    .description('pull a time range from Prometheus (remote read or the query API) into time shards in a store')
    .requiredOption(
      '--source <prometheus-url>',
      'Prometheus base URL (or its /api/v1/read URL); repeat for the HA replicas of one source',
      collect,
    )
    .addOption(
      new Option('--source-mode <mode>', 'how the source is read: remote-read, or query (the HTTP query API)').choices(
        SOURCE_MODES,
      ),
    )
    .option(
      '--max-samples-per-query <n>',
      `query mode: most samples one query answer is planned to hold (default ${DEFAULT_MAX_SAMPLES_PER_QUERY})`,
    )
    .requiredOption('--store <dir|s3://bucket/prefix>', 'where shards are written')
    .requiredOption('--from <time>', 'start: RFC3339, unix seconds, now or now-6h')
    .requiredOption('--to <time>', 'end (exclusive): RFC3339, unix seconds, now or now-1h')
    .option('--shard-length <duration>', 'time window of one shard, aligned in UTC', '1h')
    .option('--match <selector>', 'series selector, e.g. {job="api"}; repeatable (default: every series)', collect, [])
    .option('--source-name <name>', 'name of the source in object keys (default: host_port of the first --source)')
    .addOption(replicasOption())
    .addOption(replicaLabelOption());
  storeAndSourceOptions(backup)
    .addOption(sigv4RegionOption('source'))
    .addOption(sigv4ServiceOption())
    .option('--timeout <duration>', 'per-request timeout for the source', '2m')
    .option(
      '--max-response-bytes <n>',
      'the most a SAMPLES remote-read answer (servers without streamed reads) may hold, compressed or not (default 1 GiB)',
    )
    .addOption(new Option('--concurrency <n>', 'shards pulled at once').default('4'))
    .option(
      '--retries <n>',
      'retries of a shard after a transient failure (source or store down, 5xx, 429, timeout), with backoff and full jitter as in the state machine (default 6)',
    )
    .option('--force', 're-pull shards that are already committed')
    .option('--gc-grace <duration>', 'after the commit, delete leftovers of killed runs older than this', '1h')
    .option('--dry-run', 'print the plan (shards, windows, which are already committed); pull and write nothing')
    .option('--json', 'print one JSON object as the last stdout line')
    .addHelpText(
      'after',
      `
HA replicas: give --source once per replica of one source (Prometheus servers scraping the same targets).
  merge (the default): every replica is read and the union is stored, each sample once; where
    replicas disagree at one timestamp, the first --source's value is kept and counted in
    conflicting_samples. A replica that does not answer leaves its shards incomplete (named on
    stderr and in missing_replicas, exit 3); the next run pulls them again.
  failover: the first replica that can serve the whole window. A replica whose oldest sample
    (prometheus_tsdb_lowest_timestamp at /metrics) is newer than the window start, or that has
    no series where another replica has some, is passed over.
  Give the shared --source-name, and --replica-label for each label that differs between replicas:
    promvault backup --source http://prom-a:9090 --source http://prom-b:9090 --source-name prod \\
      --replica-label prometheus_replica --store s3://backups/prod --from now-1d --to now-1h
Source modes: which to choose for which server.
  remote-read (the default): Prometheus, and anything serving /api/v1/read (Thanos sidecar or
    receive, InfluxDB 1.x). Every raw sample, staleness markers included.
  query: servers without remote read: Thanos Query, Mimir/Cortex, VictoriaMetrics, Amazon Managed
    Prometheus. Raw samples through /api/v1/series and /api/v1/query (a range selector per series
    group), split to stay under --max-samples-per-query and the server's limits. The query API
    does not return staleness markers, so they are not in the backup; NaN payloads come back as
    Go's NaN. Thanos is asked for dedup=true and partial_response=false, and an answer with
    warnings (a partial answer) fails the shard.
    promvault backup --source-mode query --source http://thanos-query:9090 --store s3://b/thanos --from now-1d --to now-1h
    promvault backup --source-mode query --source http://mimir:8080/prometheus --header 'X-Scope-OrgID: team-a' --store ...
    promvault backup --source-mode query --source http://victoria:8428 --store ...
    Amazon Managed Prometheus: --source https://aps-workspaces.<region>.amazonaws.com/workspaces/<id> --sigv4-region <region>
    (SigV4-signed; credentials from the AWS default chain: docs/DEPLOY.md).
Metric metadata (# TYPE, # HELP, # UNIT from the source's /api/v1/metadata, in both modes) is stored with
  the families each shard holds. If the source cannot answer for it, the samples are still committed,
  but the shard is incomplete (named on stderr and in metadata_missing, exit 3) and pulled again next run.
Exit codes: 0 done; 3 finished, but shards are incomplete; 1 shards failed; 2 bad input.`,
    )
    .action(backupCommand);

  program
    .command('inspect')
    .description('list committed shards in a store')
    .requiredOption('--store <dir|s3://bucket/prefix>', 'the store to list')
    .option('--source-name <name>', 'only this source')
    .option('--s3-endpoint <url>', 'S3-compatible endpoint')
    .option('--region <region>', 'AWS region of the bucket')

    .option('--s3-timeout <duration>', 'longest wait for an S3 answer before a retry (default 60s)')
    .option('--json', 'print one JSON object as the last stdout line')
    .action(inspectCommand);

  const selection = (cmd: Command) =>
    cmd
      .requiredOption('--store <dir|s3://bucket/prefix>', 'the store holding the backups')
      .requiredOption('--from <time>', 'start: RFC3339, unix seconds, now or now-6h')
      .requiredOption('--to <time>', 'end (exclusive)')
      .option('--match <selector>', 'only series matching this selector; repeatable (any of them)', collect, [])
      .option('--source-name <name>', 'only this source; repeatable (default: every source in the store)', collect, [])
      .option('--s3-endpoint <url>', 'S3-compatible endpoint')
      .option('--region <region>', 'AWS region of the bucket')

      .option('--s3-timeout <duration>', 'longest wait for an S3 answer before a retry (default 60s)')
      .option('--json', 'print one JSON object as the last stdout line');

  selection(program.command('restore'))
    .description('replay backed-up samples into a remote-write endpoint')
    .option('--target <remote-write-url>', 'e.g. http://prometheus:9090/api/v1/write')
    .option('--dry-run', 'print the plan (shards, series, samples, bytes) and write nothing')
    .option('--batch-samples <n>', 'samples per remote-write request', '5000')
    .option('--concurrency <n>', 'requests in flight at once', '4')
    .option(
      '--target-basic-auth <user:password>',
      'basic auth for the target (visible in the process list: prefer the file)',
    )
    .option(
      '--target-basic-auth-file <file>',
      'file holding user:password for the target (or $PROMVAULT_TARGET_BASIC_AUTH)',
    )
    .option('--target-bearer-token-file <file>', 'bearer token for the target (or $PROMVAULT_TARGET_BEARER_TOKEN)')
    .option('--target-header <name: value>', 'extra header, e.g. X-Scope-OrgID: tenant; repeatable', collect, [])
    .option('--target-timeout <duration>', 'longest wait for one remote-write answer before a retry (default 30s)')
    .option(
      '--retries <n>',
      'retries of a shard after a transient failure (target or store down, 5xx, 429, timeout), with backoff and full jitter as in the state machine (default 6)',
    )
    .addOption(sigv4RegionOption('target (and the --verify read-back)'))
    .addOption(sigv4ServiceOption())
    .option('--report <file>', 'keep the JSON report in this file, rewritten after every shard (for --resume)')
    .option('--resume <report.json>', 'go on from a restore that stopped: skip the shards its report completed')
    .option(
      '--verify',
      'after writing, read the range back from the target and compare it with the backup, bit for bit',
    )
    .option(
      '--verify-source <remote-read-url>',
      'where --verify reads back (default: the target URL with /write → /read)',
    )
    .addHelpText('after', EXIT_CODES_HELP)
    .action(restoreCommand);

  selection(program.command('export'))
    .description('write backed-up samples as OpenMetrics for promtool tsdb create-blocks-from openmetrics')
    .option('--format <format>', 'output format', 'openmetrics')
    .requiredOption('--out <file|->', 'output file, or - for stdout')
    .addHelpText('after', EXIT_CODES_HELP)
    .action(exportCommand);

  program
    .command('verify')
    .description('check every shard against its manifest and, with --against, against the source')
    .requiredOption('--store <dir|s3://bucket/prefix>', 'the store to verify')
    .option('--from <time>', 'only shards overlapping this range')
    .option('--to <time>', 'only shards overlapping this range')
    .option(
      '--against <prometheus-url>',
      'compare every sample with this source over remote read; repeat for HA replicas (auth: $PROMVAULT_BASIC_AUTH or $PROMVAULT_BEARER_TOKEN)',
      collect,
      [],
    )
    .addOption(replicasOption())
    .addOption(replicaLabelOption())
    .addOption(sigv4RegionOption('--against source'))
    .addOption(sigv4ServiceOption())
    .option('--source-name <name>', 'only this source; repeatable', collect, [])
    .option('--s3-endpoint <url>', 'S3-compatible endpoint')
    .option('--region <region>', 'AWS region of the bucket')

    .option('--s3-timeout <duration>', 'longest wait for an S3 answer before a retry (default 60s)')
    .option('--json', 'print one JSON object as the last stdout line')
    .addHelpText(
      'after',
      `${EXIT_CODES_HELP}\nWithout both --from and --to, holes between a source's shards are reported as gaps but do not make the exit code 3.`,
    )
    .action(verifyCommand);

  const federate = program
    .command('federate')
    .description(
      "capture Prometheus' /federate every interval into the store, compacting each completed window into a shard",
    )
    .requiredOption('--source <prometheus-url>', 'Prometheus base URL (or its /federate URL)')
    .requiredOption('--store <dir|s3://bucket/prefix>', 'where snapshots and shards are written')
    .option(
      '--match <selector>',
      'series selector, sent as match[]; repeatable, one shard series each (default: every series, which is heavy)',
      collect,
      [],
    )
    .option('--interval <duration>', 'how often to fetch /federate (at least 1s)', '15s')
    .option('--duration <duration>', 'how long to capture (default: until SIGINT or SIGTERM)')
    .option('--shard-length <duration>', 'time window of one compacted shard, aligned in UTC', '1h')
    .option('--source-name <name>', 'name of the source in object keys (default: host_port of --source)');
  storeAndSourceOptions(federate)
    .option('--timeout <duration>', 'per-fetch timeout', '30s')
    .option('--json', 'print one JSON object as the last stdout line')
    .addHelpText(
      'after',
      `
/federate answers only the newest sample of each series: history cannot be fetched, only captured
as it happens. Each fetch is committed as a snapshot under snapshots/ (not visible to restore,
export, verify or inspect); once a fetch happened after a window's end, that window's snapshots
are compacted into one normal shard, verified, committed, and only then deleted. A window that
is still open at the end waits for a later run. Prefer backup (remote read) whenever the server
offers it: it gets every sample, capture gets one per interval per series.
Exit codes: 0 done; 3 finished, but some fetches failed (named on stderr and in --json);
1 failed (a store write or a compaction); 2 bad input.`,
    )
    .action(federateCommand);

  registerRunCommand(program);
  registerGcCommand(program);

  return program;
}

export async function main(argv: string[]): Promise<number> {
  redactOutput();
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version') return 0;
    if (code?.startsWith('commander.')) return 2;
    return reportError(err, json);
  }
}
