/**
 * The ECS SDK is loaded by protect only when a group in ECS mode first needs it, not at the
 * protect function's cold start. Each case runs in its own Node process (a module loads once
 * per process); under tsx the SDK resolves to its CommonJS build, so whether it was loaded
 * shows in the CommonJS module cache (the way test/aws/ssm-on-demand.test.ts checks SSM).
 *
 * Broken variant tried: `ecs: new EcsAdapter(new ECSClient(…))` built eagerly in
 * lib/protect/aws-ports.ts again — the first case fails.
 */
import { expect } from 'chai';
import { isLoaded, outputOfFresh } from '../helpers/fresh-process.js';

const ECS_LOADED = isLoaded('@aws-sdk/client-ecs');

const run = (script: string) =>
  outputOfFresh(script, {
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    // Nothing listens here: the loaded client's call fails fast, which is all we need.
    AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
    AWS_MAX_ATTEMPTS: '1',
  });

describe('the ECS SDK on demand in protect @slow', () => {
  it('is not loaded by the protect cold start, though the ECS port exists', async () => {
    const out = await run(
      `import('./functions/protect.ts').then(async () => {
        const { createRegionalPorts } = await import('./lib/protect/aws-ports.ts');
        const ports = createRegionalPorts('us-east-1');
        console.log(typeof ports.ecs.tasks, ${ECS_LOADED});
      })`,
    );
    expect(out).to.equal('function false');
  });

  it('is loaded when an ECS call first needs it, and the call goes to the client', async () => {
    const out = await run(
      `import('./lib/protect/aws-ports.ts').then(async ({ ecsOnDemand }) => {
        const ecs = ecsOnDemand('us-east-1');
        const before = ${ECS_LOADED};
        const failure = await ecs.serviceArns('cluster').then(() => 'answered', (e) => e.name);
        console.log(before, ${ECS_LOADED}, failure !== 'TypeError');
      })`,
    );
    expect(out).to.equal('false true true');
  });
});
