// Gatehouse's pages in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// puppeteer-core; no browser is downloaded). The one scenario, `browser-flows`:
//   1. the authorization URL -> sign-in page (screenshot), sign in -> consent page (screenshot),
//      allow -> the redirect to the client carries a code and the state;
//   2. the device-link page (screenshot) -> the user code typed in -> device consent
//      (screenshot) -> allow -> the page saying the device may go on (screenshot);
//   3. an authorization request for an unknown client -> the error page (screenshot).
// Input (GATEHOUSE_PEER_INPUT): {authorize_url, redirect_uri, device: {user_code,
// verification_uri}, error_url, screenshots, chromium, username, password}. See peer.mjs.
import { check, input, load, scenario } from './peer.mjs';

const { default: puppeteer } = await load('puppeteer-core');
const options = input();

await scenario(async (step) => {
  const browser = await step('launch chromium', () =>
    puppeteer.launch({
      executablePath: options.chromium,
      headless: true,
      // Root in a container: Chromium's sandbox needs namespaces it may not have.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
    }),
  );
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: 800, height: 900 });
    // The client's redirect target exists only here: answer it ourselves and note the URL.
    let redirected;
    await page.setRequestInterception(true);
    page.on('request', (request) => {
      if (request.url().startsWith(options.redirect_uri)) {
        redirected = request.url();
        request.respond({ status: 200, contentType: 'text/plain', body: 'the client has its answer' });
      } else {
        request.continue();
      }
    });
    const shots = [];
    const shoot = async (name) => {
      const path = `${options.screenshots}/${name}.png`;
      await page.screenshot({ path, fullPage: true });
      shots.push({ name, path, url: page.url(), title: await page.title() });
    };

    await step('sign-in page', async () => {
      const response = await page.goto(options.authorize_url, { waitUntil: 'load' });
      check(response.ok(), `the sign-in page answered ${response.status()} at ${page.url()}`);
      check(await page.$('input[type=password]'), `a password field at ${page.url()}`);
      await shoot('sign-in');
    });
    await step('sign in', () => signIn(page));
    await step('consent page', async () => {
      check(!redirected, `consent was asked before the redirect (went to ${redirected})`);
      check(await affirmativeButton(page), `a button to allow at ${page.url()}`);
      await shoot('consent');
    });
    await step('allow', () => clickAndWait(page, affirmativeButton(page)));
    check(redirected, `the browser went back to the client (at ${page.url()})`);
    const code = new URL(redirected).searchParams.get('code');
    check(code, `the redirect carries a code: ${redirected}`);

    await step('device-link page', async () => {
      const response = await page.goto(options.device.verification_uri, { waitUntil: 'load' });
      check(response.ok(), `the link page answered ${response.status()}`);
      await shoot('device-link');
    });
    await step('user code entry', async () => {
      const field = await page.$('form input:not([type=hidden]):not([type=password]):not([type=submit])');
      check(field, `a field for the user code at ${page.url()}`);
      await field.type(options.device.user_code);
      await clickAndWait(page, page.$('form button[type=submit], form button:not([type]), form input[type=submit]'));
    });
    await step('device consent page', async () => {
      check(await affirmativeButton(page), `a button to allow the device at ${page.url()}`);
      await shoot('device-consent');
    });
    await step('allow the device', async () => {
      await clickAndWait(page, affirmativeButton(page));
      await shoot('device-done');
    });

    await step('error page', async () => {
      const response = await page.goto(options.error_url, { waitUntil: 'load' });
      check(response.status() >= 400, `the error page answered ${response.status()}`);
      await shoot('error');
    });
    return { redirected, screenshots: shots };
  } finally {
    await browser.close();
  }
});

/** Type the credentials into the sign-in form and submit it. */
async function signIn(page) {
  const form = await page.$('form:has(input[type=password])');
  check(form, 'a sign-in form');
  const user = await form.$('input:not([type=hidden]):not([type=password]):not([type=submit]):not([type=checkbox])');
  check(user, 'a username field');
  await user.type(options.username);
  await (await form.$('input[type=password]')).type(options.password);
  await clickAndWait(page, form.$('button[type=submit], button:not([type]), input[type=submit]'));
}

/** The submit button that says yes (allow, continue…), outside the sign-out form. */
async function affirmativeButton(page) {
  const buttons = await page.$$('form:not([action*="logout"]) button, form:not([action*="logout"]) input[type=submit]');
  const no = /deny|cancel|decline|reject|not you|sign out/i;
  const yes = /allow|approve|accept|consent|continue|confirm|yes|grant/i;
  let fallback;
  for (const button of buttons) {
    const label = await button.evaluate((b) => `${b.value ?? ''} ${b.textContent ?? ''}`);
    if (no.test(label)) continue;
    if (yes.test(label)) return button;
    fallback ??= button;
  }
  return fallback;
}

async function clickAndWait(page, button) {
  const target = await button;
  check(target, `a button to press at ${page.url()}`);
  await Promise.all([page.waitForNavigation({ waitUntil: 'load' }), target.click()]);
}
