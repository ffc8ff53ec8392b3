/**
 * The EMF documents a real Powertools Metrics prints to stdout while `fn` runs: the metrics
 * tests read what CloudWatch would receive, not what the code meant to send.
 */
import { Metrics } from '@aws-lambda-powertools/metrics';
import sinon from 'sinon';

export function emittedEmf<T extends Record<string, unknown> = Record<string, unknown>>(
  fn: (metrics: Metrics) => void,
): T[] {
  const saved = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const metrics = new Metrics({ namespace: 'themis-test', serviceName: 'themis-protect' });
  process.env.POWERTOOLS_METRICS_DISABLED = saved;
  const lines: string[] = [];
  const write = sinon.stub(process.stdout, 'write').callsFake((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    fn(metrics);
  } finally {
    write.restore();
  }
  return lines
    .join('')
    .split('\n')
    .filter((l) => l.includes('_aws'))
    .map((l) => JSON.parse(l) as T);
}
