/**
 * docs/s3-script.md, the "script from S3 before termination" recipe: its THEMIS_SSM_* lines,
 * read from the page itself, go through the gate's own configuration code and its SSM adapter
 * to moto_server, whose ListCommands shows what SSM would have been asked to run.
 *
 * moto records SendCommand (document, parameters, instances, timeout) but has no AWS-owned
 * documents and runs nothing: the download from S3, the script's run and its exit status are
 * not modelled here (the gate's handling of a command's outcomes is tested in test/gate).
 */
import { ListCommandsCommand, SSMClient } from '@aws-sdk/client-ssm';
import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { SsmCommands } from '../lib/aws/ssm.js';
import { parseGateEnv } from '../lib/gate/config.js';
import { createLoopbackFleet, startMoto, type Moto } from './helpers/moto.js';

/** `NAME=value` and `NAME='value'` lines of the page's shell blocks, for THEMIS_SSM_*. */
function recipeEnvironment(): Record<string, string> {
  const page = readFileSync('docs/s3-script.md', 'utf8');
  const env: Record<string, string> = {};
  for (const line of page.split('\n')) {
    const m = /^(THEMIS_SSM_[A-Z_]+)=(?:'(.*)'|(\S+))$/.exec(line.trim());
    if (m) env[m[1]!] = m[2] ?? m[3]!;
  }
  return env;
}

const SCRIPT_URL = 'https://s3.amazonaws.com/my-scripts-bucket/themis/pre-termination.sh';
/** The largest executionTimeout AWS-RunRemoteScript accepts. */
const MAX_EXECUTION_TIMEOUT_SECONDS = 28_800;

describe('recipe: a script from S3 before termination (docs/s3-script.md)', () => {
  const env = recipeEnvironment();
  const config = parseGateEnv({
    THEMIS_RECHECK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/123456789012/themis-recheck',
    ...env,
  });

  it('configures AWS-RunRemoteScript with the S3 source, the command line and a time limit', () => {
    expect(Object.keys(env).sort()).to.deep.equal([
      'THEMIS_SSM_DOCUMENT',
      'THEMIS_SSM_PARAMETERS',
      'THEMIS_SSM_TIMEOUT_SECONDS',
    ]);
    expect(config.ssm).to.deep.equal({
      documentName: 'AWS-RunRemoteScript',
      parameters: {
        sourceType: ['S3'],
        sourceInfo: [JSON.stringify({ path: SCRIPT_URL })],
        commandLine: ['pre-termination.sh'],
        executionTimeout: ['600'],
      },
      timeoutSeconds: 900,
    });
  });

  it("lets SSM stop the script before the gate's own limit", () => {
    const executionTimeout = Number(config.ssm!.parameters.executionTimeout![0]);
    expect(executionTimeout).to.be.at.most(MAX_EXECUTION_TIMEOUT_SECONDS);
    expect(executionTimeout).to.be.lessThan(config.ssm!.timeoutSeconds);
  });

  describe('over the wire (moto_server) @slow', () => {
    let moto: Moto;
    let ssm: SSMClient;
    let instanceId: string;
    before(async () => {
      moto = await startMoto();
      ssm = new SSMClient(moto.clientConfig);
      const fleet = await createLoopbackFleet(moto, { groupName: 'recipe', size: 1 });
      instanceId = fleet.instanceIds[0]!;
    });
    after(async () => {
      ssm?.destroy();
      await moto?.stop();
    });

    it('sends AWS-RunRemoteScript to the one instance with exactly the recipe parameters', async () => {
      const commands = new SsmCommands(ssm);
      const { documentName, parameters, timeoutSeconds } = config.ssm!;
      const commandId = await commands.send(instanceId, documentName, parameters, timeoutSeconds);
      const listed = await ssm.send(new ListCommandsCommand({ CommandId: commandId }));
      expect(listed.Commands).to.have.length(1);
      const sent = listed.Commands![0]!;
      expect(sent.DocumentName).to.equal('AWS-RunRemoteScript');
      expect(sent.InstanceIds).to.deep.equal([instanceId]);
      expect(sent.TimeoutSeconds).to.equal(900);
      expect(sent.Parameters).to.deep.equal({
        sourceType: ['S3'],
        sourceInfo: [`{"path":"${SCRIPT_URL}"}`],
        commandLine: ['pre-termination.sh'],
        executionTimeout: ['600'],
      });
    });

    it('finds no AWS-owned document in moto (what moto does not model)', async () => {
      // On AWS, DescribeDocument finds AWS-RunRemoteScript; moto has only documents created in
      // it, so the gate's existence check would fail here and is not run over the wire.
      expect(await new SsmCommands(ssm).documentExists('AWS-RunRemoteScript')).to.equal(false);
    });
  });
});
