/**
 * The SSM SDK is loaded on first use, not at the gate's cold start: a stack with no
 * pre-termination command never loads it. Each case runs in its own Node process (a module
 * loads once per process); under tsx the SDK resolves to its CommonJS build, so whether it
 * was loaded shows in the CommonJS module cache.
 *
 * Broken variant tried: a static `import { SSMClient } from '@aws-sdk/client-ssm'` back in
 * lib/aws/clients.ts — the first case fails.
 */
import { expect } from 'chai';
import { isLoaded, outputOfFresh } from '../helpers/fresh-process.js';

const SSM_LOADED = isLoaded('@aws-sdk/client-ssm');

const run = (script: string) =>
  outputOfFresh(script, {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    THEMIS_RECHECK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/q',
  });

describe('the SSM SDK on demand @slow', () => {
  it('is not loaded by the gate’s cold start, though the commands port exists', async () => {
    const out = await run(`import('./functions/gate.ts').then(() => console.log(${SSM_LOADED}))`);
    expect(out).to.equal('false');
  });

  it('is loaded, once, when a command call first needs it', async () => {
    const out = await run(
      `import('./lib/aws/clients.ts').then(async ({ createAwsClients }) => {
        const clients = createAwsClients('us-east-1');
        const before = ${SSM_LOADED};
        const [a, b] = await Promise.all([clients.ssm(), clients.ssm()]);
        console.log(before, ${SSM_LOADED}, a === b);
      })`,
    );
    expect(out).to.equal('false true true');
  });
});
