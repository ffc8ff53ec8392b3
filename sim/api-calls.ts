/**
 * Every AWS operation the simulated ports carry out, counted by its API name
 * ('DescribeAutoScalingGroups', 'RecordLifecycleActionHeartbeat', 'Publish', …).
 *
 * - `calls`: operations themis asked for (one per port method call that reached AWS);
 * - `attempts`: HTTP requests, i.e. calls plus the SDK's retries of throttled attempts;
 * - `failures`: calls that failed after all attempts (throttled out, rejected, injected fault).
 *
 * Benchmarks read `snapshot()` before and after what they measure and take the difference.
 */
export type ApiName = string;

export interface ApiCallCounts {
  calls: Record<ApiName, number>;
  attempts: Record<ApiName, number>;
  failures: Record<ApiName, number>;
}

export class ApiCalls {
  private readonly counts: ApiCallCounts = { calls: {}, attempts: {}, failures: {} };

  call(name: ApiName): void {
    this.counts.calls[name] = (this.counts.calls[name] ?? 0) + 1;
  }

  attempt(name: ApiName): void {
    this.counts.attempts[name] = (this.counts.attempts[name] ?? 0) + 1;
  }

  failure(name: ApiName): void {
    this.counts.failures[name] = (this.counts.failures[name] ?? 0) + 1;
  }

  /** Calls of one API (or of all of them). */
  count(name?: ApiName): number {
    if (name) return this.counts.calls[name] ?? 0;
    return Object.values(this.counts.calls).reduce((a, b) => a + (b ?? 0), 0);
  }

  attempts(name?: ApiName): number {
    if (name) return this.counts.attempts[name] ?? 0;
    return Object.values(this.counts.attempts).reduce((a, b) => a + (b ?? 0), 0);
  }

  /** A copy of the counters now. */
  snapshot(): ApiCallCounts {
    return {
      calls: { ...this.counts.calls },
      attempts: { ...this.counts.attempts },
      failures: { ...this.counts.failures },
    };
  }

  /** Calls made since `before` (a snapshot), by API name; zeros left out. */
  since(before: ApiCallCounts): Record<ApiName, number> {
    const out: Record<ApiName, number> = {};
    for (const [name, n] of Object.entries(this.counts.calls) as [ApiName, number][]) {
      const d = n - (before.calls[name] ?? 0);
      if (d > 0) out[name] = d;
    }
    return out;
  }
}
