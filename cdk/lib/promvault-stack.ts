/**
 * Everything promvault deploys: the archive bucket, one function per handler with
 * folder-scoped access, the backup and restore state machines, a schedule per source, and the
 * alarms and dashboard watching them.
 */
import { ArnFormat, CfnOutput, Duration, Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type { Construct } from 'constructs';
import { FEDERATE_CAPTURE, HANDLERS } from '../../lambdas/handlers/contracts';
import { ampWorkspaceOf } from '../../lambdas/schemas/fields';
import { toRuntimeConfig, type FunctionRole, type PromvaultConfig } from './config';
import { ArchiveBucket, type PrefixAccess } from './constructs/archive-bucket';
import { BackupWorkflow } from './constructs/backup-workflow';
import { Monitoring } from './constructs/monitoring';
import { PromvaultFunction } from './constructs/promvault-function';
import { RestoreWorkflow } from './constructs/restore-workflow';
import { BackupSchedules } from './constructs/schedules';
import { FederateCaptures } from './constructs/federate-captures';
import { acknowledgeJustifiedWildcards } from './nag';

export interface PromvaultStackProps extends StackProps {
  readonly config: PromvaultConfig;
  /** Use stub code instead of esbuild bundles: for infrastructure unit tests. @default false */
  readonly skipBundling?: boolean;
  /** Directory of the handler modules. @default lambdas/handlers of this repository */
  readonly handlersDir?: string;
}

/**
 * What each function may touch in the archive: the least each handler needs (see contracts.ts),
 * proven against the calls the handlers make by test/unit/cdk/iam.test.ts.
 */
export const ARCHIVE_ACCESS: Readonly<Record<FunctionRole, PrefixAccess>> = {
  planBackup: { read: ['checkpoints'], write: ['plans'] },
  // A re-run writes its object beside the committed one, then deletes the one it superseded.
  backupShard: { read: ['manifests'], write: ['shards', 'manifests'], delete: ['shards'] },
  // After the commit, gc deletes shard objects no manifest names (never a manifest or checkpoint).
  commitBackup: { read: ['manifests', 'plans', 'checkpoints'], write: ['checkpoints'], delete: ['shards'] },
  planRestore: { read: ['manifests'], write: ['restores'] },
  // Thaw reads the restore plan and the manifests naming the objects it thaws.
  thaw: { read: ['restores', 'manifests', 'shards'], restore: ['shards'] },
  restoreShard: { read: ['shards', 'manifests'], write: ['restores'] },
  report: { read: ['restores'], write: ['restores'] },
};

/**
 * The FederateCapture function: snapshots it commits, lists and deletes; compaction reads the
 * window's committed shard, writes the new object and manifest, advances the checkpoint and
 * deletes the superseded object.
 */
export const FEDERATE_CAPTURE_ACCESS: PrefixAccess = {
  read: ['snapshots', 'manifests', 'shards', 'checkpoints'],
  write: ['snapshots', 'manifests', 'shards', 'checkpoints'],
  delete: ['snapshots', 'shards'],
};
/** FederateCapture: one minute of capture (the schedule period), then compaction. */
export const FEDERATE_CAPTURE_FUNCTION = { memoryMb: 1024, timeout: Duration.minutes(2) };

/** ARCHIVE_ACCESS, less what the configuration makes needless: without an archive tier nothing is ever thawed. */
export function archiveAccess(role: FunctionRole, config: PromvaultConfig): PrefixAccess {
  const access = ARCHIVE_ACCESS[role];
  return config.bucket.archiveDays === null ? { ...access, restore: [] } : access;
}

/** What reading an Amazon Managed Prometheus workspace takes: queries, series, labels, metadata. */
export const AMP_READ_ACTIONS = ['aps:QueryMetrics', 'aps:GetSeries', 'aps:GetLabels', 'aps:GetMetricMetadata'];

/** Functions that talk to Prometheus or the remote-write target, and so may need the VPC. */
const NETWORK_ROLES: readonly FunctionRole[] = ['backupShard', 'restoreShard'];

const kebab = (role: string) => role.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export class PromvaultStack extends Stack {
  readonly archive: ArchiveBucket;
  readonly functions: Readonly<Record<FunctionRole, PromvaultFunction>>;
  readonly backup: BackupWorkflow;
  readonly restore: RestoreWorkflow;
  readonly schedules: BackupSchedules;
  /** The federate-mode sources' capture function and schedules; absent without such a source. */
  readonly federate?: { readonly capture: PromvaultFunction; readonly captures: FederateCaptures };
  readonly monitoring: Monitoring;

  constructor(scope: Construct, id: string, props: PromvaultStackProps) {
    super(scope, id, { description: 'promvault: serverless backup and restore of Prometheus data to S3', ...props });
    const { config } = props;
    const logRetention = config.monitoring.logRetentionDays as logs.RetentionDays;
    const logLevel = config.monitoring.stateMachineLogLevel === 'ALL' ? sfn.LogLevel.ALL : sfn.LogLevel.ERROR;

    this.archive = new ArchiveBucket(this, 'Archive', { config: config.bucket });
    const runtimeConfigJson = this.toJsonString(toRuntimeConfig(config, this.archive.bucket.bucketName));
    const functions = {} as Record<FunctionRole, PromvaultFunction>;
    const backupSources = config.sources.filter((s) => s.mode !== 'federate');
    const federateSources = config.sources.filter((s) => s.mode === 'federate');
    for (const role of Object.keys(HANDLERS) as FunctionRole[]) {
      const settings = config.functions[role];
      const fn = new PromvaultFunction(this, HANDLERS[role], {
        handlerModule: kebab(role),
        description: `promvault ${HANDLERS[role]}`,
        runtimeConfigJson,
        ...(props.handlersDir !== undefined ? { handlersDir: props.handlersDir } : {}),
        skipBundling: props.skipBundling ?? false,
        memorySize: settings.memoryMb,
        timeout: Duration.millis(settings.timeoutMs),
        logRetentionDays: logRetention,
        ...(config.vpc !== undefined && NETWORK_ROLES.includes(role) ? { network: config.vpc } : {}),
      });
      this.archive.grantPrefixes(fn, archiveAccess(role, config));
      functions[role] = fn;
    }
    this.functions = functions;
    this.grantAmp(config);

    this.backup = new BackupWorkflow(this, 'Backup', {
      archive: this.archive,
      planBackup: functions.planBackup,
      backupShard: functions.backupShard,
      commitBackup: functions.commitBackup,
      concurrencyBySource: Object.fromEntries(backupSources.map((s) => [s.name, s.maxConcurrency])),
      logRetention,
      logLevel,
    });
    this.restore = new RestoreWorkflow(this, 'Restore', {
      archive: this.archive,
      planRestore: functions.planRestore,
      thaw: functions.thaw,
      restoreShard: functions.restoreShard,
      report: functions.report,
      shardConcurrency: config.restore.shardConcurrency,
      pollInterval: Duration.seconds(Math.round(config.restore.pollIntervalMs / 1000)),
      expeditedPollInterval: Duration.seconds(Math.round(config.restore.expeditedPollIntervalMs / 1000)),
      logRetention,
      logLevel,
    });
    if (logLevel !== sfn.LogLevel.ALL) {
      for (const machine of [this.backup.stateMachine, this.restore.stateMachine]) {
        Validations.of(machine).acknowledge({
          id: 'AwsSolutions-SF1',
          reason:
            'The operator chose ERROR-level state machine logs in cdk.json (promvault.monitoring.stateMachineLogLevel).',
        });
      }
    }
    this.schedules = new BackupSchedules(this, 'Schedules', {
      stateMachine: this.backup.stateMachine,
      sources: backupSources.map((s) => ({ name: s.name, expression: s.schedule })),
    });
    if (federateSources.length > 0) {
      const capture = new PromvaultFunction(this, FEDERATE_CAPTURE, {
        handlerModule: 'federate-capture',
        description: `promvault ${FEDERATE_CAPTURE}`,
        runtimeConfigJson,
        ...(props.handlersDir !== undefined ? { handlersDir: props.handlersDir } : {}),
        skipBundling: props.skipBundling ?? false,
        memorySize: FEDERATE_CAPTURE_FUNCTION.memoryMb,
        timeout: FEDERATE_CAPTURE_FUNCTION.timeout,
        logRetentionDays: logRetention,
        ...(config.vpc !== undefined ? { network: config.vpc } : {}),
      });
      this.archive.grantPrefixes(capture, FEDERATE_CAPTURE_ACCESS);
      const captures = new FederateCaptures(this, 'Federate', {
        capture,
        sources: federateSources.map((s) => ({ name: s.name, expression: s.schedule })),
        deadLetterQueue: this.schedules.deadLetterQueue,
      });
      this.federate = { capture, captures };
    }
    this.grantSecrets(config);
    this.monitoring = new Monitoring(this, 'Monitoring', {
      backup: this.backup.stateMachine,
      restore: this.restore.stateMachine,
      sources: backupSources.map((s) => ({ name: s.name, schedulePeriod: Duration.millis(s.schedulePeriodMs) })),
      deadLetterQueue: this.schedules.deadLetterQueue,
      ...(this.federate !== undefined ? { federateCapture: this.federate.capture } : {}),
      stalenessFactor: config.monitoring.stalenessFactor,
      ...(config.monitoring.alarmEmail !== undefined ? { alarmEmail: config.monitoring.alarmEmail } : {}),
    });

    new CfnOutput(this, 'BucketName', { value: this.archive.bucket.bucketName });
    new CfnOutput(this, 'BackupStateMachineArn', { value: this.backup.stateMachine.stateMachineArn });
    new CfnOutput(this, 'RestoreStateMachineArn', { value: this.restore.stateMachine.stateMachineArn });
    new CfnOutput(this, 'DashboardName', { value: this.monitoring.dashboard.dashboardName });
    acknowledgeJustifiedWildcards(this);
  }

  /**
   * Amazon Managed Prometheus access for what is signed with SigV4 only, scoped to the workspaces
   * the URLs name: reading for the sources' BackupShard, remote write for the restore target's
   * RestoreShard. A signed URL that is not AMP gets no grant (its permissions are not ours to know).
   */
  private grantAmp(config: PromvaultConfig): void {
    const workspaceArn = (url: string) => {
      const amp = ampWorkspaceOf(url);
      if (amp?.workspaceId === undefined) return [];
      return [
        this.formatArn({ service: 'aps', region: amp.region, resource: 'workspace', resourceName: amp.workspaceId }),
      ];
    };
    const sourceWorkspaces = config.sources.flatMap((s) =>
      s.sigv4 === undefined ? [] : [s.remoteReadUrl ?? s.queryUrl!, ...s.replicas].flatMap(workspaceArn),
    );
    if (sourceWorkspaces.length > 0)
      this.functions.backupShard.addToRolePolicy(
        new iam.PolicyStatement({ actions: AMP_READ_ACTIONS, resources: [...new Set(sourceWorkspaces)] }),
      );
    const { targetUrl, sigv4 } = config.restore;
    const targetWorkspaces = sigv4 !== undefined && targetUrl !== undefined ? workspaceArn(targetUrl) : [];
    if (targetWorkspaces.length > 0)
      this.functions.restoreShard.addToRolePolicy(
        new iam.PolicyStatement({ actions: ['aps:RemoteWrite'], resources: targetWorkspaces }),
      );
  }

  /** Read access to the named credentials secrets only, for the functions that use them. */
  private grantSecrets(config: PromvaultConfig): void {
    const grants: [string, PromvaultFunction][] = [
      ...config.sources.flatMap((s) =>
        s.credentialsSecretName === undefined
          ? []
          : [
              [
                s.credentialsSecretName,
                s.mode === 'federate' ? this.federate!.capture : this.functions.backupShard,
              ] as [string, PromvaultFunction],
            ],
      ),
      ...(config.restore.targetSecretName === undefined
        ? []
        : [[config.restore.targetSecretName, this.functions.restoreShard] as [string, PromvaultFunction]]),
    ];
    for (const [name, fn] of grants) {
      // Secrets Manager appends '-' and six characters to the name. GetSecretValue only: the
      // CDK's grantRead would add DescribeSecret, which the handlers never call.
      const arn = this.formatArn({
        service: 'secretsmanager',
        resource: 'secret',
        resourceName: `${name}-??????`,
        arnFormat: ArnFormat.COLON_RESOURCE_NAME,
      });
      fn.addToRolePolicy(new iam.PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [arn] }));
    }
  }
}
