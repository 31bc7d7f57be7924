/** The worker's way into the runs layer: plans the claimed events into one run and runs it. */
import type { ContactRun } from '../worker/worker.js';
import { describeResult } from './describe-result.js';
import { planRun } from './plan.js';
import { runContact } from './run-contact.js';

export const runEvents: ContactRun = async (deps, connection, events, where) => {
  const plan = planRun(events, { canLoadTags: connection.definition.contactSource === 'api' });
  const result = await runContact(deps, connection, plan);
  return {
    status: result.status,
    result,
    mailQueued: result.welcomeEmailId !== undefined,
    activity: describeResult(result, deps.eventId, where.context, where.note),
  };
};
