/**
 * Where a lifecycle action moves its instance, read from the event's transition and its
 * `Origin` / `Destination` (sent only by groups with a warm pool), and what that means for
 * the gate and for the words of its notices. Pure.
 *
 * The documented passages (Amazon EC2 Auto Scaling User Guide, "Warm pool example events and
 * patterns" and "Use lifecycle hooks with a warm pool"; fixtures in test/fixtures/aws/):
 *
 *   transition   Origin            Destination       waits in              passage
 *   LAUNCHING    EC2               WarmPool          Warmed:Pending:Wait   launch-into-pool
 *   LAUNCHING    WarmPool          AutoScalingGroup  Pending:Wait          leave-pool
 *   LAUNCHING    EC2               AutoScalingGroup  Pending:Wait          launch
 *   TERMINATING  AutoScalingGroup  WarmPool          Warmed:Pending:Wait   return-to-pool
 *   TERMINATING  AutoScalingGroup  EC2               Terminating:Wait      terminate
 *   TERMINATING  WarmPool          EC2               Warmed:Terminating:Wait  terminate-from-pool
 *
 * A group without a warm pool sends neither field: a plain launch or terminate. The last row
 * has no example event in the guide; it follows from the Warmed:Terminating:Wait state. Any
 * other combination is read by its transition alone (launch or terminate), so an event AWS
 * adds later is still held as safely as a termination.
 */
import {
  LAUNCHING,
  PENDING_WAIT,
  PLACE_EC2,
  PLACE_GROUP,
  PLACE_WARM_POOL,
  TERMINATING,
  TERMINATING_WAIT,
  WARMED_PENDING_WAIT,
  WARMED_TERMINATING_WAIT,
  type LifecyclePlace,
} from '../aws/facts.js';

export type Passage =
  | 'launch'
  | 'launch-into-pool'
  | 'leave-pool'
  | 'terminate'
  | 'return-to-pool'
  | 'terminate-from-pool';

export interface PassageFacts {
  /** Launches are readiness-gated (launch.ts); the others are held while busy (decide.ts). */
  gate: 'launch' | 'terminate';
  /** The lifecycle state the instance waits in while the action is open. */
  waitState: string;
  /** What completing the action does, in a notice: "released … for termination". */
  releasedFor: string;
  /** The short verb for a subject line: "released i-0abc … (returns to warm pool)". */
  subjectNote: string;
}

export const PASSAGES: Readonly<Record<Passage, PassageFacts>> = Object.freeze({
  launch: {
    gate: 'launch',
    waitState: PENDING_WAIT,
    releasedFor: 'put in service',
    subjectNote: '',
  },
  'launch-into-pool': {
    gate: 'launch',
    waitState: WARMED_PENDING_WAIT,
    releasedFor: 'let into the warm pool (Auto Scaling then stops, hibernates or keeps it running)',
    subjectNote: ' (into warm pool)',
  },
  'leave-pool': {
    gate: 'launch',
    waitState: PENDING_WAIT,
    releasedFor: 'put in service from the warm pool',
    subjectNote: ' (from warm pool)',
  },
  terminate: {
    gate: 'terminate',
    waitState: TERMINATING_WAIT,
    releasedFor: 'termination',
    subjectNote: '',
  },
  // ReuseOnScaleIn: the instance is not terminated but stopped or hibernated (or kept running)
  // in the pool. Busy work is cut by a stop just as by a termination, so it is held the same way.
  'return-to-pool': {
    gate: 'terminate',
    waitState: WARMED_PENDING_WAIT,
    releasedFor: 'return to the warm pool (it is not terminated)',
    subjectNote: ' (returns to warm pool)',
  },
  'terminate-from-pool': {
    gate: 'terminate',
    waitState: WARMED_TERMINATING_WAIT,
    releasedFor: 'termination from the warm pool',
    subjectNote: ' (from warm pool)',
  },
});

const PLACES: readonly string[] = [PLACE_EC2, PLACE_GROUP, PLACE_WARM_POOL];

/** `Origin` / `Destination` as Auto Scaling spells them; anything else is not a place. */
export function isLifecyclePlace(value: unknown): value is LifecyclePlace {
  return typeof value === 'string' && PLACES.includes(value);
}

/**
 * The passage of one action. `transition` is LAUNCHING or TERMINATING (input.ts refuses the
 * rest); `origin`/`destination` are absent for groups without a warm pool.
 */
export function passageOf(
  transition: string,
  origin?: LifecyclePlace,
  destination?: LifecyclePlace,
): Passage {
  if (transition === LAUNCHING) {
    if (origin === PLACE_EC2 && destination === PLACE_WARM_POOL) return 'launch-into-pool';
    if (origin === PLACE_WARM_POOL && destination === PLACE_GROUP) return 'leave-pool';
    return 'launch';
  }
  if (transition !== TERMINATING) throw new Error(`passageOf: not a lifecycle transition`);
  if (origin === PLACE_GROUP && destination === PLACE_WARM_POOL) return 'return-to-pool';
  if (origin === PLACE_WARM_POOL) return 'terminate-from-pool';
  return 'terminate';
}
