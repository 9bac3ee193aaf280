// Chromium (Debian's, never a downloaded one), accessibility checks with axe-core, and
// screenshots at desktop and phone sizes for every page a scenario visits.
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { artifactsDir } from '../server.mjs';

export const CHROMIUM = process.env.CHROME_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'];
export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const shotsDir = join(artifactsDir, 'screenshots');

/**
 * Chromium, headless. `fakeMicrophone: true` grants getUserMedia without asking and feeds it
 * Chromium's test tone (for the scenarios that record).
 */
export function launch({ fakeMicrophone = false } = {}) {
  return chromium.launch({
    executablePath: CHROMIUM,
    // Media plays without a click (the tests press play programmatically too).
    args: [
      ...CHROMIUM_ARGS,
      '--autoplay-policy=no-user-gesture-required',
      ...(fakeMicrophone ? ['--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream'] : []),
    ],
  });
}

/** A fresh browser context (its own cookies) on the server, at desktop size. */
export async function newContext(browser, baseURL) {
  const context = await browser.newContext({ baseURL, viewport: DESKTOP });
  context.setDefaultTimeout(15_000);
  // What the app's own pages send as `Origin`: the server accepts changes made with the session
  // cookie only from them, so the preparations made through this context say the same.
  context.tesseraOrigin = new URL(baseURL).origin;
  return context;
}

/** Serious and critical axe violations of the page as it is now (none is an empty list). */
export async function axeViolations(page) {
  // Evaluated through the DevTools protocol: the app's CSP (script-src 'self') refuses inline tags.
  if (!(await page.evaluate(() => 'axe' in window))) await page.evaluate(axeSource);
  const results = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ['violations'] }),
  );
  return results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

function describeViolations(where, violations) {
  return [
    `${violations.length} serious/critical accessibility violation(s) on ${where}:`,
    ...violations.map(
      (v) =>
        `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n` +
        v.nodes
          .slice(0, 5)
          .map((n) => `      ${n.target.join(' ')}: ${n.failureSummary?.replaceAll('\n', ' ')}`)
          .join('\n'),
    ),
  ].join('\n');
}

/**
 * Every page a scenario reaches goes through here: axe at desktop and phone sizes (throws on a
 * serious or critical violation, listing them) and a screenshot at each size.
 * `name` names the screenshots: target/e2e-artifacts/screenshots/<name>-{desktop,phone}.png.
 */
export async function checkPage(page, name) {
  mkdirSync(shotsDir, { recursive: true });
  const original = page.viewportSize() ?? DESKTOP;
  const problems = [];
  for (const [size, viewport] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ]) {
    await page.setViewportSize(viewport);
    // Let layout settle (media queries, lazy images) before looking.
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    // …and let transitions end (a dialog fading in would show axe half-blended colours);
    // endless ones (spinners, skeleton pulses) are left running.
    await page.evaluate(() =>
      Promise.all(
        document
          .getAnimations()
          .filter((a) => Number.isFinite(a.effect?.getComputedTiming().endTime ?? Infinity))
          .map((a) => a.finished.catch(() => undefined)),
      ),
    );
    const violations = await axeViolations(page);
    if (violations.length) problems.push(describeViolations(`${name} (${size}, ${page.url()})`, violations));
    await page.screenshot({ path: join(shotsDir, `${name}-${size}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
  if (problems.length) {
    console.error(problems.join('\n'));
    throw new Error(problems.join('\n'));
  }
}

/**
 * Polls `probe` until it returns something truthy (returned), or fails after `timeout` ms with
 * `what` and the last error. For conditions no single locator wait expresses.
 */
export async function eventually(what, probe, { timeout = 15_000, interval = 250 } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await probe();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${last ? `: ${last.message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** Marks the document, so `assertNoReload` can tell a live update from a reload. */
export async function markDocument(page) {
  await page.evaluate(() => {
    window.__tesseraE2eMark = true;
  });
}

export async function assertNoReload(page) {
  if (!(await page.evaluate(() => window.__tesseraE2eMark === true))) {
    throw new Error('the page reloaded (the mark set before was lost)');
  }
}
