// End-to-end tests of the reservation platform's web pages in headless
// Chromium (Debian's /usr/bin/chromium, driven by playwright-core; no browser
// is ever downloaded). A real `keycast server` with the roles
// directory,ticket,key,reservation runs on free loopback ports with a temp
// data dir; the tests click through both flows, then check the database rows
// (through the API, and with sqlite3 when it is installed) and the
// statistics page. Steps run in order and share state.
//
// Run: tests/web/run.sh (CTest label "web").
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const KEYCAST = process.env.KEYCAST_BIN;
const CHROMIUM = process.env.KEYCAST_CHROMIUM || '/usr/bin/chromium';
const NAME = 'cup-final';
const SENDER = { client: 'anna', password: 'anna-sender-password' };
const ALICE = { name: 'alice', password: 'alice-secret-pw' };
const BOB = { name: 'bob', password: 'bob-secret-pw' };
const APPROVE = '4242 4242 4242 4242';
const DECLINE = '4000 0000 0000 0002';

let dataDir, base, server, serverLog = '', browser, sender, receiver, adminToken, senderToken;
const children = [];

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(fn, what, timeoutMs = 20000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

async function api(method, path, body, token) {
  const headers = { 'Content-Type': 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : null };
}

async function ledger() {
  const r = await api('GET', `/v1/reservations/${NAME}/ledger`, undefined, senderToken);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.ledger;
}

async function grants() {
  const r = await api('GET', `/v1/reservations/${NAME}/grants`, undefined, senderToken);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.grants;
}

function sqlite(sql) {
  const r = spawnSync('sqlite3', ['-readonly', join(dataDir, 'keycast.db'), sql], { encoding: 'utf8' });
  if (r.error) throw new Error(`sqlite3 is needed to check the database rows (scripts/setup.sh installs it): ${r.error}`);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// Checks the page's accessibility basics: one h1, a main landmark, every
// visible form control labelled.
async function checkAccessible(page) {
  const facts = await page.evaluate(() => {
    const controls = [...document.querySelectorAll('input, select, textarea')].filter(
      (el) => el.type !== 'hidden');
    return {
      h1: document.querySelectorAll('h1').length,
      main: document.querySelectorAll('main').length,
      lang: document.documentElement.lang,
      unlabelled: controls.filter((el) => !(el.labels && el.labels.length)).map((el) => el.name),
    };
  });
  assert.equal(facts.h1, 1, `${page.url()}: one h1`);
  assert.equal(facts.main, 1, `${page.url()}: one main landmark`);
  assert.equal(facts.lang, 'en');
  assert.deepEqual(facts.unlabelled, [], `${page.url()}: unlabelled controls`);
}

async function fieldText(page, stat) {
  return (await page.locator(`[data-stat="${stat}"]`).textContent()).trim();
}

before(async () => {
  assert.ok(KEYCAST && existsSync(KEYCAST), `KEYCAST_BIN (${KEYCAST}) must point at the keycast binary`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (scripts/setup.sh)`);
  dataDir = mkdtempSync(join(tmpdir(), 'keycast-web-'));
  const init = execFileSync(KEYCAST, ['init', '--data-dir', dataDir], { encoding: 'utf8' });
  adminToken = init.match(/kct_[0-9a-f]+_[0-9a-f]+/)[0];
  const http = await freePort();
  const key = await freePort();
  base = `http://127.0.0.1:${http}`;
  server = spawn(KEYCAST, ['server', '--data-dir', dataDir, '--roles', 'directory,ticket,key,reservation',
    '--http-addr', `127.0.0.1:${http}`, '--key-addr', `127.0.0.1:${key}`, '--http-threads', '8'],
  { env: { ...process.env, KEYCAST_LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(server);
  server.stdout.on('data', (d) => { serverLog += d; });
  server.stderr.on('data', (d) => { serverLog += d; });
  await waitFor(async () => (await fetch(`${base}/v1/health`)).ok, 'the keycast server', 30000);
  // The directory: anna may file reservations (a sender in "broadcasters").
  for (const [method, path, body] of [
    ['POST', '/v1/groups', { name: 'broadcasters' }],
    ['POST', '/v1/clients', { name: SENDER.client, password: SENDER.password }],
    ['POST', '/v1/memberships', { client: SENDER.client, group: 'broadcasters', role: 'sender' }],
  ]) {
    const r = await api(method, path, body, adminToken);
    assert.equal(r.status, 201, `${path}: ${JSON.stringify(r.body)}`);
  }
  const s = await api('POST', '/v1/reservation/sessions', SENDER);
  assert.equal(s.status, 201, JSON.stringify(s.body));
  senderToken = s.body.token;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  // Two browser contexts: separate cookie jars for the sender and the receiver.
  sender = await (await browser.newContext()).newPage();
  receiver = await (await browser.newContext({ acceptDownloads: true })).newPage();
});

after(async () => {
  if (browser) await browser.close();
  for (const c of children) {
    if (c.exitCode === null && c.pid) {
      c.kill('SIGTERM');
      await Promise.race([new Promise((r) => c.once('exit', r)), new Promise((r) => setTimeout(r, 5000))]);
      if (c.exitCode === null) c.kill('SIGKILL');
    }
  }
  if (process.exitCode && serverLog) console.error(`--- keycast server log ---\n${serverLog}`);
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('sender signs in (a wrong password is refused)', async () => {
  await sender.goto(`${base}/sender`);
  assert.match(sender.url(), /\/sender\/login$/);
  await checkAccessible(sender);
  await sender.getByLabel('Client name').fill(SENDER.client);
  await sender.getByLabel('Password').fill('not-the-password');
  await sender.getByRole('button', { name: 'Sign in' }).click();
  await sender.getByRole('alert').waitFor();
  assert.match(await sender.getByRole('alert').textContent(), /client name or password is wrong/);
  await sender.getByLabel('Password').fill(SENDER.password);
  await sender.getByRole('button', { name: 'Sign in' }).click();
  await sender.getByRole('heading', { level: 1, name: 'Your reservations' }).waitFor();
  assert.match(await sender.textContent('header'), /Signed in as anna/);
  // The session cookie is HttpOnly and SameSite=Strict.
  const cookies = await sender.context().cookies();
  const session = cookies.find((c) => c.name === 'kc_session');
  assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
});

// Starts at the first full minute at least 35 s away (the form takes minutes):
// the sender still has time to edit, the key service is in the initial keying
// period when receivers are approved, and a receiver's agent that joins after
// the start asks for keys at once.
const start = new Date(Math.ceil((Date.now() + 35 * 1000) / 60000) * 60000);
const date = start.toISOString().slice(0, 10);
const time = start.toISOString().slice(11, 16);

test('sender files a reservation with a price and a receiver list (bad input gets a clear message)', async () => {
  await sender.getByRole('link', { name: 'File a reservation' }).click();
  await sender.getByRole('heading', { level: 1, name: 'File a reservation' }).waitFor();
  await checkAccessible(sender);
  await sender.getByLabel('Name', { exact: true }).fill(NAME);
  await sender.getByLabel('Title').fill('Cup final');
  await sender.getByLabel('Date').fill(date);
  await sender.getByLabel('Time of day (UTC)').fill(time);
  await sender.getByLabel('Duration in minutes').fill('90');
  await sender.getByLabel('Group address').fill('10.1.2.3');  // not multicast
  await sender.getByLabel('Port', { exact: true }).fill('5004');
  await sender.getByLabel('Receiver list').fill(`${ALICE.name} ${ALICE.password}\n${BOB.name} ${BOB.password}`);
  await sender.getByLabel(/Price per receiver/).fill('4.99');
  await sender.getByRole('button', { name: 'File reservation' }).click();
  await sender.getByRole('alert').waitFor();
  assert.match(await sender.getByRole('alert').textContent(), /not a multicast address/);
  // The form keeps what was typed; fix the group and file.
  assert.equal(await sender.getByLabel('Title').inputValue(), 'Cup final');
  await sender.getByLabel('Group address').fill('239.20.0.1');
  await sender.getByLabel('Receiver list').fill(`${ALICE.name} ${ALICE.password}\n${BOB.name} ${BOB.password}`);
  await sender.getByRole('button', { name: 'File reservation' }).click();
  await sender.getByRole('heading', { level: 1, name: 'Cup final' }).waitFor();
  assert.match(await sender.getByRole('status').first().textContent(), /The reservation is filed/);
  await checkAccessible(sender);
  const r = await api('GET', `/v1/reservations/${NAME}`, undefined, senderToken);
  assert.equal(r.body.price_cents, 499);
  assert.deepEqual(r.body.receivers, ['alice', 'bob']);
  assert.equal(r.body.sa.mode, 'generated');
  assert.equal(r.body.event, `resv.${NAME}`);
  // Receiver passwords are stored as Argon2id hashes.
  const hashes = sqlite('SELECT password_hash FROM reservation_receivers ORDER BY name');
  assert.match(hashes, /^\$argon2id\$/m);
  assert.ok(!hashes.includes(ALICE.password));
});

test('sender edits it before the start', async () => {
  await sender.getByRole('link', { name: 'Edit reservation' }).click();
  await sender.getByRole('heading', { level: 1, name: /^Edit / }).waitFor();
  await checkAccessible(sender);
  assert.equal(await sender.getByLabel('Receiver list').inputValue(), 'alice\nbob');  // passwords never shown
  await sender.getByLabel('Title').fill('Cup final (live)');
  await sender.getByLabel(/Price per receiver/).fill('5.50');
  await sender.getByRole('button', { name: 'Save changes' }).click();
  await sender.getByRole('heading', { level: 1, name: 'Cup final (live)' }).waitFor();
  assert.match(await sender.getByRole('status').first().textContent(), /Your changes are saved/);
  const r = await api('GET', `/v1/reservations/${NAME}`, undefined, senderToken);
  assert.equal(r.body.price_cents, 550);
  assert.equal(r.body.version, 2);
  assert.equal(await fieldText(sender, 'approved_receivers'), '0');
});

test('receiver finds the transmission', async () => {
  await receiver.goto(`${base}/reservations`);
  await checkAccessible(receiver);
  await receiver.getByRole('link', { name: 'Find a transmission' }).first().click();
  await receiver.getByRole('searchbox', { name: 'Name or title' }).fill('final');
  await receiver.getByRole('button', { name: 'Search' }).click();
  await receiver.getByRole('link', { name: 'Cup final (live)' }).click();
  await receiver.getByRole('heading', { level: 1, name: 'Cup final (live)' }).waitFor();
  await checkAccessible(receiver);
  assert.match(await receiver.textContent('main'), /5\.50 EUR/);
});

async function fillRequest(page, who, password, card) {
  await page.getByLabel('Your receiver name').fill(who);
  await page.getByLabel('Password').fill(password);
  await page.getByLabel('Card number').fill(card);
  await page.getByLabel('Expiry (MM/YY)').fill('12/34');
  await page.getByLabel('Security code').fill('123');
}

async function submitRequest(page) {
  await page.getByRole('button', { name: 'Pay and request access' }).click();
  await page.locator('h1').waitFor();
}

test('a wrong password, a receiver not on the list and a declined card get nothing', async () => {
  await fillRequest(receiver, ALICE.name, 'wrong-password', APPROVE);
  await submitRequest(receiver);
  assert.match(await receiver.getByRole('alert').textContent(), /receiver name or password is wrong/);
  await fillRequest(receiver, 'mallory', ALICE.password, APPROVE);
  await submitRequest(receiver);
  assert.match(await receiver.getByRole('alert').textContent(), /receiver name or password is wrong/);
  assert.equal((await ledger()).length, 0, 'nothing charged for a wrong password or a stranger');
  await fillRequest(receiver, ALICE.name, ALICE.password, DECLINE);
  await submitRequest(receiver);
  assert.match(await receiver.getByRole('alert').textContent(), /payment declined: card declined/);
  const rows = await ledger();
  assert.equal(rows.length, 1);
  assert.equal(rows[0].status, 'declined');
  assert.equal((await grants()).length, 0, 'no access without payment');
  assert.equal(await receiver.locator('#config').count(), 0);
});

let aliceConfig;

test('receiver pays with an approving card and downloads the agent configuration', async () => {
  await fillRequest(receiver, ALICE.name, ALICE.password, APPROVE);
  await submitRequest(receiver);
  await receiver.getByRole('heading', { level: 1, name: 'Access granted' }).waitFor();
  await checkAccessible(receiver);
  assert.match(await receiver.getByRole('status').textContent(), /Charged 5\.50 EUR \(once\)/);
  const [download] = await Promise.all([
    receiver.waitForEvent('download'),
    receiver.getByRole('button', { name: 'Download configuration' }).click(),
  ]);
  assert.equal(download.suggestedFilename(), `keycast-${NAME}-alice.env`);
  aliceConfig = readFileSync(await download.path(), 'utf8');
  assert.match(aliceConfig, /^KEYCAST_API_KEY=kca_/m);
  assert.match(aliceConfig, new RegExp(`^KEYCAST_EVENT=resv\\.${NAME}$`, 'm'));
  assert.match(aliceConfig, new RegExp(`^KEYCAST_ADDR=${base.replace(/\./g, '\\.')}$`, 'm'));
  assert.equal(aliceConfig.trim(), (await receiver.locator('#config').textContent()).trim());
});

function envOf(config) {
  return Object.fromEntries(config.split('\n').filter((l) => /^KEYCAST_[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
}

test('a double submission charges once', async () => {
  await receiver.goto(`${base}/watch/${NAME}`);
  await fillRequest(receiver, BOB.name, BOB.password, APPROVE);
  // The same filled-in form, posted twice at once (a double click that the
  // page's script did not catch, or a resubmission): one idempotency key.
  const form = await receiver.locator('form[action$="/request"]').evaluate((f) =>
    Object.fromEntries(new FormData(f).entries()));
  const url = `${base}/watch/${NAME}/request`;
  const [a, b] = await Promise.all([receiver.request.post(url, { form }), receiver.request.post(url, { form })]);
  assert.equal(a.status(), 200, await a.text());
  assert.equal(b.status(), 200, await b.text());
  // And once more through the page itself.
  await submitRequest(receiver);
  await receiver.getByRole('heading', { level: 1, name: 'Access granted' }).waitFor();
  const bobCharges = (await ledger()).filter((e) => e.receiver === 'bob' && e.kind === 'charge');
  assert.equal(bobCharges.length, 1, JSON.stringify(bobCharges));
  assert.equal(bobCharges[0].status, 'approved');
  assert.equal((await grants()).filter((g) => g.receiver === 'bob' && !g.revoked).length, 1);
});

test('the database rows and the statistics page agree', async () => {
  const rows = await ledger();
  assert.deepEqual(rows.map((e) => [e.receiver, e.kind, e.status, e.amount_cents]), [
    ['alice', 'charge', 'declined', 550], ['alice', 'charge', 'approved', 550], ['bob', 'charge', 'approved', 550]]);
  const db = sqlite(`SELECT receiver, kind, status, amount_cents FROM ledger ORDER BY id`);
  assert.equal(db, 'alice|charge|declined|550\nalice|charge|approved|550\nbob|charge|approved|550');
  assert.equal(sqlite('SELECT COUNT(*) FROM access_grants WHERE revoked_at = 0'), '2');
  // The sender's page was left open: its figures update without a reload.
  await waitFor(async () => (await fieldText(sender, 'approved_receivers')) === '2', 'approved receivers = 2');
  await waitFor(async () => (await fieldText(sender, 'collected')) === '11.00 EUR', 'collected = 11.00 EUR');
  assert.equal(await fieldText(sender, 'charges_declined'), '1');
  assert.ok(Number(await fieldText(sender, 'requests_refused')) >= 3);
  assert.equal(await fieldText(sender, 'entitled_now'), '2');  // in the initial keying period
  const st = await api('GET', `/v1/reservations/${NAME}/stats`, undefined, senderToken);
  assert.equal(st.body.approved_receivers, 2);
  assert.equal(st.body.collected_cents, 1100);
  // The same numbers from the CLI.
  const cliEnv = { ...process.env, KEYCAST_RESERVATION_SESSION: join(dataDir, 'cli-session.json') };
  execFileSync(KEYCAST, ['reservation', 'login', '--addr', base, '--client', SENDER.client,
    '--password', SENDER.password], { env: cliEnv, encoding: 'utf8' });
  const cli = JSON.parse(execFileSync(KEYCAST, ['reservation', 'stats', NAME, '--addr', base, '--json'],
    { env: cliEnv, encoding: 'utf8' }));
  assert.equal(cli.approved_receivers, 2);
  assert.equal(cli.collected, '11.00 EUR');
});

test("the receiver's agent logs in and gets keys from the key service", async () => {
  // After the start an agent asks for its first key at once (a late join).
  await waitFor(async () => Date.now() > start.getTime() + 1000, 'the start', 180000);
  const env = { ...process.env, ...envOf(aliceConfig), HOME: dataDir, KEYCAST_LOG_LEVEL: 'warn' };
  delete env.KEYCAST_CLIENT_NAME;
  const out = execFileSync(KEYCAST, ['client', 'join', env.KEYCAST_EVENT, '--duration', '4'],
    { env, encoding: 'utf8', timeout: 30000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /key for interval/, out);
  // The key service counts alice as keyed; the sender's page shows it.
  const st = await api('GET', `/v1/reservations/${NAME}/stats`, undefined, senderToken);
  assert.equal(st.body.keyed_now, 1, JSON.stringify(st.body));
  await waitFor(async () => (await fieldText(sender, 'keyed_now')) === '1', 'keyed this interval = 1');
});


test('the CLI runs the channel from the receiver\'s machine (same access, no second charge)', async () => {
  const out = join(dataDir, 'alice-cli.env');
  const ok = spawnSync(KEYCAST, ['reservation', 'request', NAME, '--addr', base, '--receiver', ALICE.name,
    '--password', ALICE.password, '--out', out], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.equal(envOf(readFileSync(out, 'utf8')).KEYCAST_API_KEY, envOf(aliceConfig).KEYCAST_API_KEY);
  const bad = spawnSync(KEYCAST, ['reservation', 'request', NAME, '--addr', base, '--receiver', ALICE.name,
    '--password', 'wrong-password'], { encoding: 'utf8' });
  assert.equal(bad.status, 3, bad.stdout + bad.stderr);  // unauthenticated
  assert.match(bad.stderr, /receiver name or password is wrong/);
  assert.equal((await ledger()).filter((e) => e.receiver === 'alice' && e.status === 'approved').length, 1);
});

test('cancelling refunds every receiver and revokes access', async () => {
  await sender.reload();
  await sender.getByLabel(/Yes, cancel/).check();
  await sender.getByRole('button', { name: 'Cancel transmission' }).click();
  await sender.getByRole('status').first().waitFor();
  assert.match(await sender.getByRole('status').first().textContent(), /cancelled\. Refunds: 2\./);
  const rows = await ledger();
  const refunds = rows.filter((e) => e.kind === 'refund');
  assert.equal(refunds.length, 2);
  assert.ok(refunds.every((e) => e.status === 'approved' && e.amount_cents === -550));
  const db = sqlite(`SELECT COUNT(*), SUM(amount_cents) FROM ledger WHERE kind = 'refund' AND status = 'approved'`);
  assert.equal(db, '2|-1100');
  await waitFor(async () => (await fieldText(sender, 'collected')) === '0.00 EUR', 'collected = 0.00 EUR');
  assert.equal((await grants()).filter((g) => !g.revoked).length, 0);
  // Alice's credential no longer logs in.
  const env = { ...process.env, ...envOf(aliceConfig), HOME: dataDir };
  const login = spawnSync(KEYCAST, ['client', 'login'], { env, encoding: 'utf8' });
  assert.notEqual(login.status, 0, login.stdout + login.stderr);
  // The transmission is gone from the search.
  await receiver.goto(`${base}/watch?q=final`);
  assert.match(await receiver.textContent('main'), /No transmission matches/);
});

test('keyboard: the skip link comes first and moves to the main content', async () => {
  await receiver.goto(`${base}/watch`);
  await receiver.keyboard.press('Tab');
  const focused = await receiver.evaluate(() => document.activeElement.textContent.trim());
  assert.equal(focused, 'Skip to main content');
  await receiver.keyboard.press('Enter');
  await waitFor(async () => receiver.url().endsWith('#main'), 'skip link');
});

test('operator console: sign in with the admin token, remove a member, see it in the audit log', async () => {
  const op = await (await browser.newContext()).newPage();
  await op.goto(`${base}/`);
  await op.getByRole('heading', { level: 1, name: 'Sign in to the operator console' }).waitFor();
  await checkAccessible(op);
  // A wrong token: the error next to the field, still signed out.
  await op.getByLabel('Admin token').fill('kct_0000000000000000_' + '0'.repeat(64));
  await op.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await op.locator('#login-token-error').textContent(), /not a valid admin token/);
  await op.getByLabel('Admin token').fill(adminToken);
  await op.getByRole('button', { name: 'Sign in' }).click();
  await op.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  await checkAccessible(op);
  assert.equal(await op.locator('svg [data-group="broadcasters"]').count(), 1);
  await op.getByRole('link', { name: 'Clients' }).first().click();
  await checkAccessible(op);
  await op.getByRole('button', { name: `Remove ${SENDER.client} from broadcasters` }).click();
  assert.match(await op.getByRole('status').first().textContent(), /no longer in broadcasters/);
  const c = await api('GET', `/v1/clients/${SENDER.client}`, undefined, adminToken);
  assert.deepEqual(c.body.groups, []);
  await op.getByRole('link', { name: 'Audit log' }).first().click();
  await checkAccessible(op);
  assert.match(await op.textContent('main'), /membership\.delete/);
  for (const path of ['/console/events']) {
    await op.goto(`${base}${path}`);
    await checkAccessible(op);
  }
  await op.context().close();
});
