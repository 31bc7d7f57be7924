/**
 * The webhook actions a stored event asks for, and which one wins when a
 * contact has several due. Pure.
 */
const ACTIONS = ['update_tags', 'update', 'add'] as const;
export type Action = (typeof ACTIONS)[number];

/** `add` > `update` > `update_tags`: one run does what the strongest pending webhook asks. */
const PRECEDENCE: Record<Action, number> = { update_tags: 1, update: 2, add: 3 };

export function isAction(value: string): value is Action {
  return (ACTIONS as readonly string[]).includes(value);
}

export function strongestAction(actions: readonly Action[]): Action {
  return actions.reduce<Action>(
    (best, action) => (PRECEDENCE[action] > PRECEDENCE[best] ? action : best),
    'update_tags',
  );
}
