/**
 * The CRM of the path benchmark: the fake Ontraport of the tests, answering at
 * once and without a rate limit, in its own process so neither the load
 * generator nor the service shares its event loop. Run by bench/paths.bench.ts:
 *
 *   node --import tsx bench/fake-crm.ts <contacts>
 *
 * Seeds `<contacts>` contacts (ids 100001…) and tags, then prints one JSON line
 * with the API URL, credentials and contact ids. Over IPC it takes
 * `{ tags: 'first' | 'second' }`: every contact gets that generation of tags
 * (see `tagsOf`), answered with `{ done: true }`.
 */
import { startFakeOntraport } from '../test/fakes/ontraport.fake.js';
import { tagsOf, type TagGeneration } from './tag-plan.js';

const contacts = Number(process.argv[2]);
if (!Number.isInteger(contacts) || contacts <= 0) {
  console.error('usage: fake-crm.ts <contacts>');
  process.exit(2);
}

// A window of 1 ms with an unreachable limit: no rate limit, and nothing piles up to count it.
const crm = await startFakeOntraport({
  rateLimit: { limit: 1_000_000_000, windowMs: 1 },
  withSampleContact: false,
});
const tagIds = ['3', '7', '12'];
for (let n = 3; n < 8; n += 1) tagIds.push(crm.addTag(`Bench tag ${n}`));

const ids: string[] = [];
for (let i = 0; i < contacts; i += 1) {
  const id = String(100_001 + i);
  crm.addContact({
    id,
    email: `bench${id}@example.com`,
    firstname: `First${id}`,
    lastname: `Last${id}`,
  });
  ids.push(id);
}

const retag = (generation: TagGeneration) => {
  ids.forEach((id, index) => crm.setTags(id, tagsOf(generation, index, tagIds)));
};
retag('first');

// The fake records every request for tests to inspect; a benchmark sends millions.
const forget = setInterval(() => crm.requests.splice(0), 1_000);

process.on('message', (message: { tags?: TagGeneration }) => {
  if (message.tags) {
    retag(message.tags);
    process.send?.({ done: true, tagIds });
  }
});

const stop = () => {
  clearInterval(forget);
  void crm.close().then(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.on('disconnect', stop);

console.log(
  JSON.stringify({ apiUrl: crm.apiUrl, appId: crm.appId, apiKey: crm.apiKey, ids, tagIds }),
);
