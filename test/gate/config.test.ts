import { expect } from 'chai';
import { DEFAULT_HEARTBEAT_MARGIN_SECONDS } from '../../lib/gate/budget.js';
import { parseGateEnv } from '../../lib/gate/config.js';
import { ConfigError } from '../../lib/errors.js';
import { QUEUE_URL, TOPIC_ARN } from './fakes.js';

const base = { THEMIS_RECHECK_QUEUE_URL: QUEUE_URL };

function configErrorOf(env: Record<string, string>): ConfigError {
  try {
    parseGateEnv(env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('gate config', () => {
  it('fills the documented defaults when only the queue is given', () => {
    const config = parseGateEnv(base);
    expect(config).to.deep.equal({
      recheckQueueUrl: QUEUE_URL,
      recheckSeconds: 10,
      unknownLimit: 3,
      onDeadline: 'CONTINUE',
      onSsmFailure: 'CONTINUE',
      heartbeatMarginSeconds: DEFAULT_HEARTBEAT_MARGIN_SECONDS,
      settings: {},
    });
  });

  it('reads every variable of the contract', () => {
    const config = parseGateEnv({
      ...base,
      THEMIS_TOPIC_ARN: TOPIC_ARN,
      THEMIS_RECHECK_SECONDS: '60',
      THEMIS_MAX_WAIT_SECONDS: '7200',
      THEMIS_UNKNOWN_LIMIT: '5',
      THEMIS_ON_DEADLINE: 'abandon',
      THEMIS_SSM_DOCUMENT: 'AWS-RunShellScript',
      THEMIS_SSM_PARAMETERS:
        '{"commands":["tar czf /tmp/logs.tgz /var/log"],"workingDirectory":"/"}',
      THEMIS_SSM_TIMEOUT_SECONDS: '300',
      THEMIS_ON_SSM_FAILURE: 'ABANDON',
      THEMIS_METRICS_PORT: '9100',
      THEMIS_BUSY_URL: 'status',
      THEMIS_DRY_RUN: 'true',
      THEMIS_HEARTBEAT_MARGIN_SECONDS: '420',
    });
    expect(config).to.deep.include({
      heartbeatMarginSeconds: 420,
      topicArn: TOPIC_ARN,
      recheckSeconds: 60,
      maxWaitSeconds: 7200,
      unknownLimit: 5,
      onDeadline: 'ABANDON',
      onSsmFailure: 'ABANDON',
    });
    expect(config.ssm).to.deep.equal({
      documentName: 'AWS-RunShellScript',
      parameters: { commands: ['tar czf /tmp/logs.tgz /var/log'], workingDirectory: ['/'] },
      timeoutSeconds: 300,
    });
    expect(config.settings).to.deep.equal({ metricsPort: 9100, busyURL: '/status', dryRun: true });
  });

  it('refuses to start without a recheck queue, naming the variable', () => {
    const err = configErrorOf({});
    expect(err.field).to.equal('THEMIS_RECHECK_QUEUE_URL');
    expect(configErrorOf({ THEMIS_RECHECK_QUEUE_URL: '  ' }).field).to.equal(
      'THEMIS_RECHECK_QUEUE_URL',
    );
  });

  it('treats empty variables (an empty deploy param) as unset', () => {
    const config = parseGateEnv({
      ...base,
      THEMIS_MAX_WAIT_SECONDS: '',
      THEMIS_SSM_DOCUMENT: '',
      THEMIS_SSM_PARAMETERS: '{}',
      THEMIS_TOPIC_ARN: '',
    });
    expect(config.maxWaitSeconds).to.equal(undefined);
    expect(config.ssm).to.equal(undefined);
    expect(config.topicArn).to.equal(undefined);
  });

  const bad: [string, string, RegExp][] = [
    ['THEMIS_RECHECK_QUEUE_URL', 'not a url', /URL/],
    ['THEMIS_TOPIC_ARN', 'my-topic', /SNS topic ARN/],
    ['THEMIS_RECHECK_SECONDS', '4', /5|small|>=/],
    ['THEMIS_RECHECK_SECONDS', '901', /900|big|<=/],
    ['THEMIS_RECHECK_SECONDS', 'thirty', /whole number|Invalid input/],
    ['THEMIS_MAX_WAIT_SECONDS', '172801', /172800|big|<=/],
    ['THEMIS_UNKNOWN_LIMIT', '0', /1|small|>=/],
    ['THEMIS_ON_DEADLINE', 'WAIT', /CONTINUE, ABANDON or RETAIN/],
    ['THEMIS_ON_SSM_FAILURE', 'retry', /CONTINUE, ABANDON or RETAIN/],
    ['THEMIS_SSM_DOCUMENT', 'a b', /document/],
    ['THEMIS_SSM_TIMEOUT_SECONDS', '10', /30|small|>=/],
    ['THEMIS_METRICS_PORT', '70000', /65535|big|<=/],
    ['THEMIS_BUSY_URL', 'http://evil.example/x', /scheme/],
    ['THEMIS_DRY_RUN', 'maybe', /./],
  ];
  for (const [variable, value, message] of bad) {
    it(`names ${variable} when it is ${JSON.stringify(value)}`, () => {
      const err = configErrorOf({ ...base, [variable]: value });
      expect(err.field).to.equal(variable);
      expect(err.message).to.match(message);
    });
  }

  const badParameters: [string, RegExp][] = [
    ['not json', /JSON object/],
    ['["a"]', /JSON object/],
    ['{"commands": 5}', /./],
    ['{"commands": [1]}', /./],
  ];
  for (const [value, message] of badParameters) {
    it(`names THEMIS_SSM_PARAMETERS when it is ${value}`, () => {
      const err = configErrorOf({
        ...base,
        THEMIS_SSM_DOCUMENT: 'AWS-RunShellScript',
        THEMIS_SSM_PARAMETERS: value,
      });
      expect(err.field).to.match(/^THEMIS_SSM_PARAMETERS/);
      expect(err.message).to.match(message);
    });
  }

  it('refuses command parameters without a command document', () => {
    const err = configErrorOf({ ...base, THEMIS_SSM_PARAMETERS: '{"commands":["true"]}' });
    expect(err.field).to.equal('THEMIS_SSM_PARAMETERS');
    expect(err.message).to.contain('THEMIS_SSM_DOCUMENT');
  });
});
