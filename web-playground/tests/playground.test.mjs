// Browser tests of the playground against `serve --demo`, in headless Chromium (Debian's
// `chromium`, or CHROMIUM) driven by Playwright. Each page's screenshot lands in
// test-results/, with the server's log.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { after, before, test } from 'node:test';

import { chromium } from 'playwright-core';

import { eventually, startDemo } from './demo.mjs';

const results = new URL('../test-results/', import.meta.url).pathname;
const executablePath = process.env.CHROMIUM ?? '/usr/bin/chromium';

let demo;
let browser;

before(async () => {
  assert.ok(existsSync(executablePath), `no Chromium at ${executablePath}: apt-get install chromium, or set CHROMIUM`);
  mkdirSync(results, { recursive: true });
  demo = await startDemo(`${results}server.log`);
  browser = await chromium.launch({
    executablePath,
    // As on a machine without internet: no background calls home (and no sandbox under root).
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
});

after(async () => {
  await browser?.close();
  await demo?.stop();
});

/**
 * A page that records what it loads and what goes wrong. `check()` asserts it loaded
 * nothing from outside the server and logged no errors (404s, CSP refusals, exceptions).
 */
async function openPage(path) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const outside = [];
  const errors = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(`${demo.url}/`) && !url.startsWith('data:') && !url.startsWith('blob:')) outside.push(url);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  page.on('pageerror', (error) => errors.push(error.message));
  await page.goto(`${demo.url}${path}`);
  if (path !== '/live') {
    // GraphiQL runs once its editor is up (Monaco loads after the page).
    await page.locator('.graphiql-query-editor .view-lines').getByText(/\w/).first().waitFor();
  }
  const check = () => {
    assert.deepEqual(outside, [], 'the page loaded something from outside the server');
    assert.deepEqual(errors, [], 'the page logged errors');
  };
  return { page, check };
}

/** The text of GraphiQL's response pane, parsed (null until it holds a whole JSON value). */
async function response(page) {
  const text = await page.locator('.graphiql-response .view-lines').innerText();
  try {
    return JSON.parse(text.replace(/\u00a0/g, ' '));
  } catch {
    return null;
  }
}

test('the IDE loads, shows the schema docs, and runs a query', async () => {
  const { page, check } = await openPage('/');
  const sent = page.waitForResponse((r) => r.url().endsWith('/graphql') && r.request().postData()?.includes('HotPosts'));
  await page.locator('.graphiql-execute-button').click();
  const answer = await (await sent).json();
  assert.equal(answer.errors, undefined);
  assert.match(answer.data.appview.version, /^\d+\.\d+\.\d+/);
  assert.ok(answer.data.posts.nodes.length > 0, 'the demo has posts by now');
  // The response pane shows the answer (its first lines: the pane scrolls the rest).
  const pane = page.locator('.graphiql-response .view-lines');
  await pane.getByText(`"${answer.data.appview.version}"`).waitFor();
  assert.match(await pane.innerText(), /"appview"/);

  // The docs come from introspection of the embedded server's schema.
  await page.getByRole('button', { name: /documentation explorer/i }).click();
  await page.locator('.graphiql-doc-explorer').getByText('Subscription', { exact: true }).waitFor();
  await page.screenshot({ path: `${results}ide-query.png` });
  check();
  await page.close();
});

test('a subscription in the IDE shows a changing count', async () => {
  // The most popular community's hottest post draws the most votes and comments.
  const { communities } = await demo.graphql('{ communities(sort: POPULAR, first: 1) { nodes { did } } }');
  const { feed } = await demo.graphql(
    'query ($c: String!) { feed(kind: COMMUNITY, community: $c, sort: HOT, first: 1) { nodes { uri } } }',
    { c: communities.nodes[0].did },
  );
  const query = 'subscription PostStats($uri: String!) {\n  postStats(uri: $uri) { seq score upvotes downvotes commentCount }\n}\n';
  const variables = JSON.stringify({ uri: feed.nodes[0].uri }, null, 2);
  const { page, check } = await openPage(`/playground?${new URLSearchParams({ query, variables })}`);
  await page.locator('.graphiql-execute-button').click();

  const counts = ({ score, upvotes, downvotes, commentCount }) => ({ score, upvotes, downvotes, commentCount });
  const first = await eventually('the first value', 30, async () => (await response(page))?.data?.postStats);
  const changed = await eventually('a changed count', 90, async () => {
    const value = (await response(page))?.data?.postStats;
    return value && value.seq > first.seq && JSON.stringify(counts(value)) !== JSON.stringify(counts(first)) ? value : null;
  });
  assert.notDeepEqual(counts(changed), counts(first));
  await page.screenshot({ path: `${results}ide-subscription.png` });
  await page.locator('.graphiql-execute-button').click(); // stops the subscription
  check();
  await page.close();
});

test("the live view's numbers change as votes and comments arrive", async () => {
  const { page, check } = await openPage('/live');
  const rows = page.getByTestId('post-row');
  await rows.first().waitFor();
  await page.getByTestId('socket-status').getByText('live').waitFor();
  const read = async () => {
    const numbers = new Map();
    for (const row of await rows.all()) {
      const uri = await row.getAttribute('data-uri');
      const score = await row.getByTestId('post-score').innerText();
      const comments = await row.getByTestId('post-comments').innerText();
      numbers.set(uri, `${score}/${comments}`);
    }
    return numbers;
  };
  const before = await read();
  await eventually('a post of the live view changing its numbers', 90, async () => {
    const now = await read();
    return [...now].some(([uri, numbers]) => before.has(uri) && before.get(uri) !== numbers);
  });
  assert.ok(Number(await page.getByTestId('change-count').innerText()) > 0, 'the live changes counter stayed at 0');
  assert.match(await page.getByTestId('community-posts').innerText(), /^\d+$/);
  await page.screenshot({ path: `${results}live-view.png` });
  check();
  await page.close();
});
