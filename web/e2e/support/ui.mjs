// How the scenarios find things in the UI: by role and accessible name only. Each helper is the
// one place a page's contract with the tests lives (web/e2e/README.md lists them).

/** Waits until the location's path matches `re`. */
export async function atPath(page, re, timeout = 15_000) {
  await page.waitForURL((u) => re.test(u.pathname), { timeout });
}

export async function signUpViaUi(page, { name, email, password }) {
  await page.goto('/signup');
  await page.getByLabel('Name').fill(name);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await atPath(page, /^\/library/);
}

export async function signInViaUi(page, { email, password }) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password', { exact: true }).fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

export async function signOutViaUi(page, email) {
  // The account menu's button names the user (display name and email).
  await page.getByRole('button', { name: new RegExp(email.replace(/[.+]/g, '\\$&')) }).click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await atPath(page, /^\/signin/);
}

/** The main navigation's link to a page (the sidebar; the phone drawer holds the same links). */
export function navLink(page, name) {
  return page.getByRole('navigation').getByRole('link', { name, exact: true }).first();
}

/** The page's top-level heading. */
export function pageHeading(page, name) {
  return page.getByRole('heading', { level: 1, name }).first();
}

/**
 * Chooses files through the page's "Upload" button (a file chooser), or an input labelled
 * "Upload…" when the page shows one.
 */
export async function uploadViaUi(page, files) {
  const paths = files.map((f) => f.path);
  const button = page.getByRole('button', { name: /^upload/i }).first();
  const chooser = page.waitForEvent('filechooser', { timeout: 10_000 });
  await button.click();
  await (await chooser).setFiles(paths);
}

/** The file name's stem: the title the server gives an upload without one. */
export function titleOf(file) {
  return file.name.replace(/\.[^.]+$/, '');
}

/**
 * A library item (grid card or list row): the list item holding a link named `title` (the
 * upload tray's entries name the file but have no link).
 */
export function libraryItem(page, title) {
  return page
    .getByRole('listitem')
    .filter({ has: page.getByRole('link', { name: title, exact: true }) })
    .last();
}

/** The item's analysis is done: it says "Ready" and shows no progress bar. */
export async function itemIsReady(item) {
  return (await item.getByText(/\bready\b/i).count()) > 0 && (await item.getByRole('progressbar').count()) === 0;
}

/**
 * Records every progress bar state the page shows from now on (name, value, text), in the page:
 * `progressSeen(page)` reads them. Catches quick steps a poll would miss.
 */
export async function recordProgress(page) {
  await page.evaluate(() => {
    const seen = new Set();
    window.__tesseraProgress = seen;
    const look = () => {
      // Processing bars only: the upload tray's bars say "Uploading" / "Waiting to upload".
      for (const el of document.querySelectorAll('main [role="progressbar"], main progress')) {
        if (/upload/i.test(el.getAttribute('aria-valuetext') ?? '')) continue;
        const name = el.getAttribute('aria-label') ?? el.getAttribute('aria-labelledby') ?? '';
        const labelled = el.getAttribute('aria-labelledby');
        const label = labelled ? (document.getElementById(labelled)?.textContent ?? '') : name;
        seen.add(
          [label, el.getAttribute('aria-valuetext') ?? '', el.getAttribute('aria-valuenow') ?? el.getAttribute('value') ?? '']
            .join(' | ')
            .trim(),
        );
      }
    };
    new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true });
    look();
  });
}

export function progressSeen(page) {
  return page.evaluate(() => [...(window.__tesseraProgress ?? [])]);
}

/** The first audio or video element of the page, as a handle-free probe. */
export function mediaState(page, selector = 'audio, video') {
  return page.evaluate((sel) => {
    const m = document.querySelector(sel);
    return m ? { currentTime: m.currentTime, duration: m.duration, paused: m.paused, readyState: m.readyState } : null;
  }, selector);
}

/** The conversation's messages (a `log`: new messages are announced). */
export function chatLog(page) {
  return page.getByRole('log');
}

export function messageBox(page) {
  return page.getByRole('textbox', { name: /message/i });
}
