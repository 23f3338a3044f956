// Passkeys from a real browser: Debian's Chromium, headless, with the
// DevTools virtual authenticator (CTAP2, resident keys, user verification),
// on a page of another origin than Gatehouse, so every call goes through
// CORS. The page does what docs/passkeys.md tells client authors to do:
// parseCreationOptionsFromJSON / parseRequestOptionsFromJSON on
// `options.publicKey`, navigator.credentials, and credential.toJSON()
// posted back. Run by .ci/browser, which starts Gatehouse and the page.
//
//   API=http://localhost:PORT PAGE=http://localhost:PORT2/ node passkeys.mjs
import { chromium } from 'playwright-core';

const { API, PAGE } = process.env;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
const failures = [];
function check(what, actual, expected) {
  const ok = JSON.stringify(actual) === JSON.stringify(expected);
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}: ${JSON.stringify(actual)}`);
  if (!ok) failures.push(`${what}: expected ${JSON.stringify(expected)}`);
}

try {
  const page = await browser.newPage();
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true,
      isUserVerified: true, automaticPresenceSimulation: true },
  });
  await page.goto(PAGE);
  const seen = await page.evaluate(async (API) => {
    async function call(path, body, token) {
      const headers = { 'Content-Type': 'application/json' };
      if (token) headers.Authorization = `Bearer ${token}`;
      const res = await fetch(API + path, { method: 'POST', headers, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : null };
    }
    const amr = (token) => JSON.parse(atob(token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/'))).amr;
    const seen = {};
    const account = { username: 'alice', password: 'correct horse battery staple' };
    await call('/auth/register', account);
    const { body: { access_token: token } } = await call('/auth/login', account);

    // Registration.
    const start = await call('/auth/passkeys/register/start', {}, token);
    const created = await navigator.credentials.create({
      publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(start.body.options.publicKey),
    });
    const finish = await call('/auth/passkeys/register/finish',
      { ceremony_id: start.body.ceremony_id, name: 'chromium', credential: created.toJSON() }, token);
    seen.registration = [finish.status, finish.body.name, finish.body.recovery_codes?.length];

    // Passwordless sign-in with the discoverable credential.
    const signIn = await call('/auth/passkeys/login/start', {});
    const assertion = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(signIn.body.options.publicKey),
    });
    const signedIn = await call('/auth/passkeys/login/finish',
      { ceremony_id: signIn.body.ceremony_id, credential: assertion.toJSON() });
    seen.passwordless = [signedIn.status, signedIn.body.access_token ? amr(signedIn.body.access_token) : signedIn.body];

    // The passkey as the second step of a password login.
    const login = await call('/auth/login', account);
    const second = await navigator.credentials.get({
      publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(login.body.passkey_options.publicKey),
    });
    const completed = await call('/auth/login/mfa', { mfa_token: login.body.mfa_token, passkey: second.toJSON() });
    seen.second_factor = [login.body.methods, completed.status,
      completed.body.access_token ? amr(completed.body.access_token) : completed.body];

    // excludeCredentials: the same authenticator cannot register twice.
    const again = await call('/auth/passkeys/register/start', {}, completed.body.access_token);
    try {
      await navigator.credentials.create({
        publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(again.body.options.publicKey),
      });
      seen.excluded = 'created a second credential';
    } catch (e) {
      seen.excluded = e.name;
    }
    return seen;
  }, API);
  check('registration from another origin', seen.registration, [201, 'chromium', 10]);
  check('passwordless sign-in', seen.passwordless, [200, ['pop', 'mfa']]);
  check('passkey as the second factor', seen.second_factor, [['passkey', 'recovery_code'], 200, ['pwd', 'pop', 'mfa']]);
  check('excludeCredentials', seen.excluded, 'InvalidStateError');
} catch (e) {
  failures.push(String(e?.stack ?? e));
  console.log(`FAIL ${e?.stack ?? e}`);
} finally {
  await browser.close();
}
if (failures.length > 0) {
  console.log(`\n${failures.length} browser check(s) failed`);
  process.exit(1);
}
console.log('\nbrowser checks passed');
