import { CommandFailed, CLI_CALL_TIMEOUT_MS, type CliCommand } from '../context.js';
import { chooseHook, holdKind, releaseConsequence } from '../holds.js';
import { connectRegion } from '../target.js';
import { ConfigError } from '../../errors.js';
import type { LifecycleResult } from '../../ports.js';
import { Deadline } from '../../time.js';

interface ReleaseFlags {
  asg: string;
  instance: string;
  region?: string;
  hook?: string;
  abandon?: boolean;
  yes?: boolean;
  json?: boolean;
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

/**
 * `themis release`: complete an instance's lifecycle action by instance id (no token needed),
 * after the operator confirms. The instance must be waiting in a hook; the call itself is
 * the final word: "No active Lifecycle Action found" means the action had already ended.
 */
export const releaseCommand: CliCommand = {
  register(program, ctx) {
    program
      .command('release')
      .description("complete an instance's lifecycle action (CONTINUE, or ABANDON)")
      .requiredOption('--asg <name>', 'Auto Scaling group name')
      .requiredOption('--instance <id>', 'the waiting instance, e.g. i-0123456789abcdef0')
      .option('--region <region>', 'AWS region (default: AWS_REGION or your profile)')
      .option(
        '--hook <name>',
        "the lifecycle hook (default: the only hook of the instance's state)",
      )
      .option('--abandon', 'complete with ABANDON instead of CONTINUE')
      .option('--yes', 'do not ask for confirmation')
      .option('--json', 'print JSON for scripts')
      .action(async (flags: ReleaseFlags) => {
        if (!INSTANCE_ID.test(flags.instance)) {
          throw new ConfigError('--instance', 'must be an instance id such as i-0123456789abcdef0');
        }
        const { region, ports } = await connectRegion(flags.region, ctx);
        const call = <T>(what: string, work: (signal: AbortSignal) => Promise<T>) =>
          Deadline.after(CLI_CALL_TIMEOUT_MS).run(what, work);
        const group = flags.asg;
        const id = flags.instance;

        const [listed, warm] = await Promise.all([
          call('DescribeAutoScalingGroups', (signal) =>
            ports.groups.describeGroups([group], { signal }),
          ),
          call('DescribeWarmPool', (signal) => ports.holds.warmPoolInstances(group, { signal })),
        ]);
        const found = listed.find((g) => g.name === group);
        if (!found) throw new CommandFailed(`Auto Scaling group "${group}" not found in ${region}`);
        const member = [...found.instances, ...warm].find((i) => i.instanceId === id);
        if (!member) throw new CommandFailed(`${id} is not in group ${group} or its warm pool`);
        const state = member.lifecycleState;
        const kind = holdKind(state);
        if (kind !== 'wait') {
          throw new CommandFailed(
            kind === 'retained'
              ? `${id} is ${state}: its lifecycle action has already ended; nothing to release`
              : `${id} is ${state}, not waiting in a lifecycle hook: nothing to release`,
          );
        }
        const hooks = await call('DescribeLifecycleHooks', (signal) =>
          ports.holds.listHooks(group, { signal }),
        );
        const hook = chooseHook(hooks, state, group, flags.hook);
        const result: LifecycleResult = flags.abandon ? 'ABANDON' : 'CONTINUE';
        // On a group whose instance lifecycle policy retains, an ABANDON keeps the instance.
        const consequence = releaseConsequence(state, result, {
          transition: hook.transition,
          retainsOnAbandon: found.retainsOnAbandon === true,
        });

        if (!flags.yes) {
          if (!ctx.prompt) throw new CommandFailed('cannot ask for confirmation here: pass --yes');
          const answer = await ctx.prompt(
            `Complete the lifecycle action of ${id} (${state}, hook ${hook.hookName}) in ${group} ` +
              `with ${result}? Then ${consequence}. [y/N] `,
          );
          if (!/^\s*y(es)?\s*$/i.test(answer ?? '')) {
            throw new CommandFailed(`not released: ${id} (not confirmed)`);
          }
        }

        const outcome = await call('CompleteLifecycleAction', (signal) =>
          ports.lifecycle.complete(
            { groupName: group, hookName: hook.hookName, instanceId: id },
            result,
            { signal },
          ),
        );
        if (flags.json) {
          ctx.out(
            `${JSON.stringify(
              {
                asgName: group,
                region,
                instanceId: id,
                hookName: hook.hookName,
                result,
                outcome,
                consequence,
              },
              null,
              2,
            )}\n`,
          );
        }
        if (outcome === 'gone') {
          throw new CommandFailed(
            `No active Lifecycle Action found for ${id} in hook ${hook.hookName} of ${group}: ` +
              'it has already ended (completed elsewhere or timed out); nothing released',
          );
        }
        if (!flags.json) {
          ctx.out(
            `released ${id} from hook ${hook.hookName} of ${group} (${result}): ${consequence}\n`,
          );
        }
      });
  },
};
