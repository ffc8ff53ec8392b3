/** What bench/lambda-scan.ts and bench/function-worker.ts say to each other. */

export const RESULT_MARK = '@@bench-function-result@@';

export interface FunctionJob {
  invocations: number;
  /** The function's timeout, for the context's remaining time. */
  timeoutMs: number;
}

export interface InvocationRun {
  wallMs: number;
  cpuMs: number;
  /** SDK calls by command name, e.g. DescribeInstancesCommand. */
  calls: Record<string, number>;
  /** Time spent in those calls by command (summed: concurrent calls overlap). */
  awsMs: Record<string, number>;
  /** Peak RSS during this invocation (Linux: VmHWM reset before it), MB. */
  maxRssMB?: number;
  /** Per group: ScanDuration as reported, and the addresses by answer. */
  groups: Array<{
    asgName: string;
    outcome: string;
    durationMs: number;
    busy: string[];
    idle: string[];
    unknown: string[];
  }>;
}

export interface FunctionOutcome {
  /** From process start to the handler imported (the cold start, Node's own start included). */
  readyMs: number;
  runs: InvocationRun[];
  maxRssMB: number;
}
