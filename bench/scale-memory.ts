/**
 * Peak RSS of the scale function as packaged (the zip `serverless package` made with a
 * clusters file, bench/package.ts), in one process as one warm container at its deployed
 * memory size's CPU share and heap (bench/packaged-function.ts), invoked `INVOCATIONS` times
 * as its schedule would: AWS is moto_server with one ECS cluster of `INSTANCES` container
 * instances (the EC2 instances of a loopback Auto Scaling group) and a worker service whose
 * metric is a loopback HTTP endpoint answering a backlog that asks for more tasks, so each
 * invocation reads the metric, sizes the service (UpdateService) and the cluster.
 *
 * The clusters file is the bench's own (THEMIS_CLUSTERS_FILE, which the function reads at
 * its cold start): the packaged one names a cluster and an SQS queue that are not in moto.
 *
 * Figure: VmHWM after the last invocation; baselines in the same process: VmHWM after the
 * import, and the memory size (goal ≤ 60 %).
 */
import { CreateServiceCommand } from '@aws-sdk/client-ecs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startWorker, type Worker } from '../test/helpers/http-workers.js';
import { WORKER_FAMILY, startEcsWorld, startTask } from '../test/helpers/moto-ecs.js';
import { functionEnv } from '../test/packaging/bundle-checks.js';
import { props, resource, type Template } from '../test/packaging/package-stack.js';
import type { CpuLimit } from './cgroup.js';
import { onInterrupt } from './children.js';
import { startPackaged, type Invocation } from './packaged-function.js';

export const INSTANCES = 4;
export const INVOCATIONS = 3;
const CLUSTER = 'themis-bench';
const GROUP = 'themis-bench-scale';
const SERVICE = 'worker';

export interface ScaleMemoryRun {
  importRssMB: number;
  invocations: Invocation[];
  /** Metric reads the endpoint answered. */
  metricReads: number;
}

export async function measureScaleMemory(o: {
  taskDir: string;
  template: Template;
  memoryMB: number;
  workDir: string;
  cpu?: CpuLimit;
  log: (line: string) => void;
}): Promise<ScaleMemoryRun> {
  const world = await startEcsWorld({
    groupName: GROUP,
    size: INSTANCES,
    clusterName: CLUSTER,
    registered: INSTANCES,
  });
  const forget = onInterrupt(() => world.stop());
  let metric: Worker | undefined;
  let stopRunner: (() => Promise<void>) | undefined;
  try {
    await world.ecs.send(
      new CreateServiceCommand({
        cluster: CLUSTER,
        serviceName: SERVICE,
        taskDefinition: WORKER_FAMILY,
        desiredCount: 2,
      }),
    );
    for (const id of world.fleet.instanceIds.slice(0, 2)) {
      await startTask(world.ecs, world.cluster, id, { group: `service:${SERVICE}` });
    }
    // A backlog of 150: the first event (≥ 100) adds two tasks.
    metric = await startWorker({
      kind: 'answer',
      body: JSON.stringify({ queue: { depth: 150 } }),
      headers: { 'content-type': 'application/json' },
    });
    const clustersFile = join(o.workDir, 'bench-clusters.yml');
    await writeFile(
      clustersFile,
      `clusters:
  ${CLUSTER}:
    autoscale_group: ${GROUP}
    cpu_buffer: 512
    mem_buffer: 1024
    services:
      ${SERVICE}:
        min: 1
        max: 10
        metric: { url: "http://${metric.address}:${metric.port}/backlog", field: queue.depth }
        events:
          - { metric_min: 100, metric_max: null, action: 2 }
          - { metric_min: null, metric_max: 0, action: -1 }
`,
    );
    const scale = props(resource(o.template, 'ScaleLambdaFunction'));
    const fn = await startPackaged({
      label: 'scale',
      taskDir: o.taskDir,
      handler: scale.Handler as string,
      env: {
        ...functionEnv(o.template, 'ScaleLambdaFunction', {}),
        THEMIS_CLUSTERS_FILE: clustersFile,
        AWS_REGION: world.moto.region,
        AWS_DEFAULT_REGION: world.moto.region,
        AWS_ACCESS_KEY_ID: 'bench',
        AWS_SECRET_ACCESS_KEY: 'bench',
        AWS_ENDPOINT_URL: world.moto.endpoint,
        AWS_EC2_METADATA_DISABLED: 'true',
        AWS_LAMBDA_FUNCTION_NAME: String(scale.FunctionName),
      },
      memoryMB: o.memoryMB,
      timeoutMs: Number(scale.Timeout ?? 60) * 1000,
      ...(o.cpu ? { cpu: o.cpu } : {}),
      log: o.log,
    });
    stopRunner = () => fn.stop();
    for (let i = 0; i < INVOCATIONS; i++) {
      await fn.invoke(i === 0 ? 'the first (cold) invocation' : `warm invocation ${i}`, {});
    }
    return {
      importRssMB: fn.importRssMB,
      invocations: fn.invocations,
      metricReads: metric.requests.length,
    };
  } finally {
    await stopRunner?.();
    await metric?.close();
    await world.stop();
    forget();
  }
}
