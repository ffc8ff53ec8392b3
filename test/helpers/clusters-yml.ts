/**
 * clusters.yml text for the deploy tests that package the scale function: cluster "jobs"
 * (group jobs-asg) with a worker service scaling on a literal SQS queue. Each test appends
 * what it needs (more clusters, more services).
 */
export const JOBS_CLUSTER_YML = `
clusters:
  jobs:
    autoscale_group: jobs-asg
    cpu_buffer: 512
    mem_buffer: 1024
    services:
      worker:
        min: 1
        max: 10
        metric: { sqs_queue_url: "https://sqs.us-east-1.amazonaws.com/123456789012/jobs" }
        events:
          - { metric_min: 100, metric_max: null, action: 2 }
`;
