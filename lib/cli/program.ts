/**
 * The `themis` operator CLI: commander wiring, error handling and the default context
 * (the operator's own AWS credentials through the SDK's default chain).
 */
import { Command, CommanderError } from 'commander';
import { createInterface } from 'node:readline';
import { AutoScalingAdapter } from '../aws/auto-scaling.js';
import { AutoScalingHolds } from '../aws/lifecycle-holds.js';
import { silentLog } from '../log.js';
import { createHttpProber } from '../probe.js';
import { createRegionalPorts } from '../protect/aws-ports.js';
import { COMMANDS } from './commands/index.js';
import { jsonLinesLog, type CliCommand, type CliContext } from './context.js';

export function buildProgram(ctx: CliContext, commands: CliCommand[] = COMMANDS): Command {
  const program = new Command('themis')
    .description('themis: scale-in protection for busy EC2 Auto Scaling instances')
    .option('--debug', 'log every decision (JSON lines on stderr) and show stack traces')
    .configureOutput({
      writeOut: (s) => ctx.out(s),
      writeErr: (s) => ctx.err(s),
    })
    .exitOverride();
  for (const command of commands) command.register(program, ctx);
  // Subcommands inherit the error handling and output of the program.
  for (const sub of program.commands) {
    sub.exitOverride().configureOutput(program.configureOutput());
  }
  return program;
}

/** Run the CLI; resolves to the process exit status. Never throws. */
export async function runCli(
  argv: string[],
  ctx: CliContext,
  commands: CliCommand[] = COMMANDS,
): Promise<number> {
  const program = buildProgram(ctx, commands);
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander has already printed its one-line message (or the help/version text).
      return err.exitCode;
    }
    const debug = argv.includes('--debug');
    const message = err instanceof Error ? err.message : String(err);
    ctx.err(`themis: ${message.split('\n')[0]}\n`);
    if (debug && err instanceof Error && err.stack) ctx.err(`${err.stack}\n`);
    return 1;
  }
}

/** stdout/stderr, process.env, SDK clients per region built on demand. */
export function defaultCliContext(): CliContext & { close(): void } {
  const clients: Array<{ destroy(): void }> = [];
  return {
    env: process.env,
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    prober: createHttpProber({ loopbackOnly: process.env.THEMIS_LOOPBACK_ONLY === '1' }),
    log: (debug) => (debug ? jsonLinesLog((s) => void process.stderr.write(s)) : silentLog),
    async connect(region) {
      const ports = createRegionalPorts(region);
      clients.push(ports.autoScalingClient);
      let resolved: string;
      try {
        resolved = await ports.autoScalingClient.config.region();
      } catch {
        resolved = '';
      }
      if (!resolved) {
        throw new Error('no AWS region: pass --region or set AWS_REGION (or a profile region)');
      }
      return {
        region: resolved,
        ports: {
          ...ports,
          lifecycle: new AutoScalingAdapter(ports.autoScalingClient),
          holds: new AutoScalingHolds(ports.autoScalingClient),
        },
      };
    },
    prompt: (question) => {
      process.stderr.write(question);
      return readLine(process.stdin);
    },
    close() {
      for (const c of clients) c.destroy();
    },
  };
}

/**
 * One line from `input`, or undefined when it ends first. No deadline: a person is
 * answering (Ctrl-C ends the wait); scripts pass --yes or pipe the answer in.
 */
export function readLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve) => {
    const lines = createInterface({ input, terminal: false });
    let answer: string | undefined;
    lines.once('line', (line) => {
      answer = line;
      lines.close();
    });
    lines.once('close', () => resolve(answer));
  });
}
