'use strict';
/* global module */
/**
 * An osls plugin with one job: each lifecycle hook the stack installs depends on the
 * EventBridge rule that sends its actions to the gate, so the hook is created after the rule
 * and deleted before it (a hook nobody answers holds every terminating instance until its
 * heartbeat timeout). osls names the rule's logical id itself; this finds the rule by the
 * name serverless.yml gives it (`custom.lifecycleRuleName`) in the finished template rather
 * than recomputing osls's naming, and refuses to package when it is missing.
 */
const HOOK = 'AWS::AutoScaling::LifecycleHook';

class LifecycleRuleOrder {
  constructor(serverless) {
    this.hooks = {
      // After the resources of serverless.yml are merged into the compiled template.
      'before:aws:package:finalize:saveServiceState': () => {
        const template = serverless.service.provider.compiledCloudFormationTemplate;
        const ruleName = serverless.service.custom.lifecycleRuleName;
        const resources = Object.entries(template.Resources);
        const hooks = resources.filter(([, r]) => r.Type === HOOK);
        if (hooks.length === 0) return;
        const rules = resources.filter(
          ([, r]) => r.Type === 'AWS::Events::Rule' && r.Properties.Name === ruleName,
        );
        if (rules.length !== 1) {
          throw new Error(
            `the stack has ${rules.length} EventBridge rules named ${ruleName}, not 1`,
          );
        }
        for (const [, hook] of hooks) {
          hook.DependsOn = [...[hook.DependsOn ?? []].flat(), rules[0][0]];
        }
      },
    };
  }
}

module.exports = LifecycleRuleOrder;
