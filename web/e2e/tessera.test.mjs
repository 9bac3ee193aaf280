// The end-to-end scenarios: a real server (e2e/server.mjs) with real models, Debian's Chromium,
// axe-core on every page reached, screenshots in target/e2e-artifacts/screenshots.
// One server for the whole run; each scenario has its own users. Run with `npm run e2e`.
import assert from 'node:assert/strict';
import { after, before, describe as suite, test } from 'node:test';

import { startServer } from './server.mjs';
import { analysedViaApi, api, signInViaApi, signUpViaApi, uploadViaApi, uniqueEmail, PASSWORD } from './support/app.mjs';
import { assertNoReload, checkPage, eventually, launch, markDocument, newContext } from './support/browser.mjs';
import { plainImage, signImage, speechAudio, tourVideo } from './support/media.mjs';
import {
  atPath,
  chatLog,
  itemIsReady,
  libraryItem,
  mediaState,
  messageBox,
  navLink,
  pageHeading,
  progressSeen,
  recordProgress,
  signInViaUi,
  signOutViaUi,
  signUpViaUi,
  titleOf,
  uploadViaUi,
} from './support/ui.mjs';

// One suite around everything, so the server and browser are started once for all.
suite('tessera', { concurrency: 1 }, () => {
  const PROCESSING_TIMEOUT = 300_000;

  let server;
  let browser;
  /** Alice: the user of the sign-up, media and chat scenarios (filled as they go). */
  const alice = { account: null, context: null, page: null, items: {} };
  const media = {};

  before(async () => {
    server = await startServer({
      overrides: {
        // Short answers keep the chat scenarios quick on a small machine.
        'chat.max_answer_tokens': 200,
        'log.format': 'pretty',
      },
    });
    browser = await launch();
    media.image = signImage('sign.png');
    media.audio = speechAudio('notice.wav');
    media.video = tourVideo('tour.mp4');
    console.log(`server ${server.url}`);
  });

  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  /** Alice's page, signed in: through the sign-up scenario, or directly when that one failed. */
  async function alicePage() {
    if (!alice.context) {
      alice.context = await newContext(browser, server.url);
      alice.page = await alice.context.newPage();
    }
    if (!alice.account) alice.account = await signUpViaApi(alice.context, 'alice');
    return alice.page;
  }

  /** Alice's item for `kind` (image, audio, video): the one uploaded through the UI, else by API. */
  async function aliceItem(kind) {
    await alicePage();
    if (!alice.items[kind]) {
      const item = await uploadViaApi(alice.context, media[kind]);
      alice.items[kind] = item.id;
    }
    return analysedViaApi(alice.context, alice.items[kind], PROCESSING_TIMEOUT);
  }

  suite('accounts', () => {
    test('sign up', async () => {
      alice.context = await newContext(browser, server.url);
      alice.page = await alice.context.newPage();
      const page = alice.page;
      await page.goto('/signup');
      await pageHeading(page, /create your account/i).waitFor();
      await checkPage(page, 'signup');
      const account = { name: 'Alice', email: uniqueEmail('alice'), password: PASSWORD };
      await signUpViaUi(page, account);
      alice.account = account;
      await pageHeading(page, 'Library').waitFor();
      await checkPage(page, 'library-empty');
    });

    test('sign out and sign in again', async () => {
      const context = await newContext(browser, server.url);
      try {
        const page = await context.newPage();
        const who = await signUpViaApi(context, 'sam');
        // Signed in the way people do it, so the page knows its session from the start.
        await context.clearCookies();
        await signInViaUi(page, who);
        await pageHeading(page, 'Library').waitFor();
        await signOutViaUi(page, who.email);
        await pageHeading(page, /sign in/i).waitFor();
        await checkPage(page, 'signin');
        // Signed out means the API refuses the old cookies too.
        const me = await context.request.get('/api/me');
        assert.equal(me.status(), 401);
        await signInViaUi(page, who);
        await pageHeading(page, 'Library').waitFor();
      } finally {
        await context.close();
      }
    });

    test('an API key is created, shown once and revoked', async () => {
      const context = await newContext(browser, server.url);
      try {
        const page = await context.newPage();
        await signUpViaApi(context, 'kim');
        await page.goto('/settings/api-keys');
        await pageHeading(page, 'API keys').waitFor();
        await checkPage(page, 'api-keys-empty');
        await page.getByRole('button', { name: 'Create key' }).first().click();
        const form = page.getByRole('dialog', { name: 'Create an API key' });
        await form.getByLabel('Name').fill('e2e uploader');
        await form.getByRole('button', { name: 'Create key' }).click();
        const shown = page.getByRole('dialog', { name: 'Copy your new key' });
        await shown.waitFor();
        const key = await shown.getByRole('textbox').inputValue();
        assert.ok(key.length >= 20, `a key is shown (${key.length} characters)`);
        await checkPage(page, 'api-key-created');
        const me = await context.request.get('/api/me', { headers: { authorization: `Bearer ${key}` } });
        assert.equal(me.status(), 200, 'the new key works');
        await shown.getByRole('button', { name: 'Done' }).click();
        await shown.waitFor({ state: 'hidden' });

        // Shown once: after a reload the page holds only its prefix.
        await page.reload();
        const row = page.getByRole('row').filter({ hasText: 'e2e uploader' });
        await row.waitFor();
        assert.ok(!(await page.content()).includes(key), 'the whole key is not shown again');
        await checkPage(page, 'api-keys');

        await row.getByRole('button', { name: 'Revoke e2e uploader' }).click();
        await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
        await row.getByText('Revoked').waitFor();
        const after = await context.request.get('/api/me', { headers: { authorization: `Bearer ${key}` } });
        assert.equal(after.status(), 401, 'a revoked key is refused');
      } finally {
        await context.close();
      }
    });
  });

  suite('library and processing', () => {
    test('upload an image, an audio clip and a video; processing finishes live', { timeout: 420_000 }, async () => {
      const page = await alicePage();
      await page.goto('/library');
      await pageHeading(page, 'Library').waitFor();
      await markDocument(page);
      await recordProgress(page);
      for (const kind of ['image', 'audio', 'video']) {
        await uploadViaUi(page, [media[kind]]);
        await libraryItem(page, titleOf(media[kind])).waitFor({ timeout: 30_000 });
      }
      await checkPage(page, 'library-processing');
      for (const kind of ['image', 'audio', 'video']) {
        const item = libraryItem(page, titleOf(media[kind]));
        await eventually(`${media[kind].name} to show it is ready`, () => itemIsReady(item), {
          timeout: PROCESSING_TIMEOUT,
          interval: 500,
        });
        const href = await item.getByRole('link').first().getAttribute('href');
        const id = href?.match(/\/content\/([0-9a-f-]{36})/)?.[1];
        assert.ok(id, `the item links to its detail view (${href})`);
        alice.items[kind] = id;
      }
      await assertNoReload(page);
      const steps = await progressSeen(page);
      console.log(`progress states shown: ${JSON.stringify(steps)}`);
      assert.ok(steps.length >= 2, `the library showed per-step progress (saw ${JSON.stringify(steps)})`);
      assert.equal(await page.getByRole('main').getByRole('progressbar').count(), 0, 'no progress bar is left');
      await checkPage(page, 'library');
    });

    test('each detail view opens', { timeout: 420_000 }, async () => {
      const page = await alicePage();
      for (const kind of ['image', 'audio', 'video']) {
        const item = await aliceItem(kind);
        await page.goto('/library');
        await libraryItem(page, item.title).getByRole('link', { name: item.title, exact: true }).click();
        await atPath(page, new RegExp(`^/content/${item.id}`));
        await pageHeading(page, item.title).waitFor();
        if (kind === 'image') {
          const img = page.getByRole('main').getByRole('img').first();
          await img.waitFor();
          await eventually('the image to load', () => img.evaluate((e) => e.complete && e.naturalWidth > 0));
          await page.getByText(/open daily/i).first().waitFor({ timeout: 15_000 });
        } else {
          await eventually(`the ${kind} element to load its metadata`, async () => (await mediaState(page))?.readyState >= 1);
          await page.getByRole('region', { name: /transcript/i }).getByRole('button').first().waitFor();
        }
        await checkPage(page, `content-${kind}`);
      }
    });

    test('a click on a transcript line seeks the media', { timeout: 420_000 }, async () => {
      const page = await alicePage();
      for (const kind of ['audio', 'video']) {
        const item = await aliceItem(kind);
        await page.goto(`/content/${item.id}`);
        await eventually(`the ${kind} metadata`, async () => (await mediaState(page))?.readyState >= 1);
        // Park the playhead at the end, then a click on the first line must bring it back.
        const parked = await page.evaluate(() => {
          const m = document.querySelector('audio, video');
          m.pause();
          m.currentTime = Math.max(0, m.duration - 0.2);
          return m.currentTime;
        });
        const lines = page.getByRole('region', { name: /transcript/i }).getByRole('button');
        await lines.first().click();
        await eventually(`the ${kind} to seek to the line`, async () => (await mediaState(page)).currentTime < parked - 0.5);
      }
    });
    test('search finds what was said, and a click on the hit lands on its second', { timeout: 420_000 }, async () => {
      const page = await alicePage();
      const item = await aliceItem('audio');
      const said = item.analysis.result.transcript.segments.find((s) => /\bbook/i.test(s.text));
      assert.ok(said, `a transcript line about the books (${JSON.stringify(item.analysis.result.transcript)})`);
      await page.goto('/library');
      await pageHeading(page, 'Library').waitFor();
      // The shortcut puts the cursor in the library's search box; Enter opens the search page.
      await page.keyboard.press('/');
      await page.keyboard.type('give the book back');
      await page.keyboard.press('Enter');
      await atPath(page, /^\/search/);
      const results = page.getByRole('list', { name: `Found in “${item.title}”` });
      const hit = results.getByRole('link', { name: /\bbook/i }).first();
      // The index follows the log: reload until the item's findings are in it.
      await eventually('the spoken line to be found', async () => {
        if (await hit.isVisible()) return true;
        await page.reload();
        return hit.waitFor({ timeout: 3_000 }).then(() => true, () => false);
      }, { timeout: 60_000, interval: 500 });
      await checkPage(page, 'search');
      await hit.click();
      await atPath(page, new RegExp(`^/content/${item.id}`));
      const t = Number(new URL(page.url()).searchParams.get('t'));
      assert.ok(Math.abs(t - said.start) < 0.01, `the link names the line's second (t=${t}, the line starts at ${said.start})`);
      await eventually('the player to stand at the line', async () => {
        const m = await mediaState(page);
        return m?.readyState >= 1 && Math.abs(m.currentTime - said.start) < 0.5;
      });
    });
  });

  suite('chat', () => {
    let conversationUrl;

    /** The conversation's last answer, from the API. */
    async function lastAnswer(context) {
      const id = new URL(conversationUrl).pathname.split('/').pop();
      const c = await api(context, 'GET', `/api/conversations/${id}`);
      return { conversation: c, answer: c.items.filter((m) => m.role === 'assistant').at(-1), message: c.items.filter((m) => m.role === 'user').at(-1) };
    }

    async function send(page, text) {
      await messageBox(page).fill(text);
      await page.getByRole('button', { name: /^send/i }).click();
      await chatLog(page).getByText(text).waitFor();
    }

    test('chat with an attachment and stop the stream', { timeout: 300_000 }, async () => {
      const page = await alicePage();
      await page.goto('/chat');
      await checkPage(page, 'chat-empty');
      const image = await aliceItem('image');
      await page.getByRole('button', { name: /^attach from library/i }).click();
      const picker = page.getByRole('dialog', { name: /attach/i });
      await picker.getByRole('checkbox', { name: new RegExp(`\\b${image.title}\\b`) }).check();
      await checkPage(page, 'chat-attach');
      await picker.getByRole('button', { name: 'Attach', exact: true }).click();
      await picker.waitFor({ state: 'hidden' });
      await page.getByRole('list', { name: 'Attachments to send' }).getByText(image.title).waitFor();
      await send(page, 'Describe the attached image in detail, then tell a long story about it.');
      await atPath(page, /^\/chat\/[0-9a-f-]{36}/);
      conversationUrl = page.url();
      const stop = page.getByRole('button', { name: /^stop/i });
      await stop.waitFor({ timeout: 60_000 });
      // Some of the answer has arrived before it is stopped.
      const before = await chatLog(page).innerText();
      await eventually('the answer to start streaming', async () => (await chatLog(page).innerText()).length > before.length + 10, {
        timeout: 120_000,
      });
      await stop.click();
      await stop.waitFor({ state: 'hidden' });
      await chatLog(page).getByRole('article', { name: 'Answer' }).last().getByText(/^Stopped/).waitFor();
      await checkPage(page, 'chat-stopped');
      const { answer, message } = await eventually('the answer to be recorded as stopped', async () => {
        const r = await lastAnswer(alice.context);
        return r.answer?.status === 'cancelled' && r;
      });
      assert.equal(message.attachments.length, 1, 'the message carries the attachment');
      assert.ok(answer.text.length > 0, 'the stopped answer keeps what was written');
    });

    test('a reload mid-stream shows the answer continuing', { timeout: 300_000 }, async () => {
      const page = await alicePage();
      if (!conversationUrl) throw new Error('needs the conversation of the previous scenario');
      await page.goto(conversationUrl);
      await send(page, 'Write a long story about a garden with roses and tomatoes.');
      const stop = page.getByRole('button', { name: /^stop/i });
      await stop.waitFor({ timeout: 60_000 });
      await eventually('the answer to start streaming', async () => (await lastAnswer(alice.context)).answer?.text.length > 10, {
        timeout: 120_000,
        interval: 100,
      });
      const streaming = (await lastAnswer(alice.context)).answer;
      assert.equal(streaming.status, 'streaming', 'the reload happens mid-stream');
      await page.reload();
      await chatLog(page).waitFor();
      // The rest of the answer arrives in the reloaded page, then the stream ends.
      await stop.waitFor({ state: 'hidden', timeout: 180_000 });
      const { answer } = await lastAnswer(alice.context);
      assert.equal(answer.status, 'completed');
      // Words only: Markdown's marks and punctuation are not what the page shows.
      const words = (text) => text.split(/[^\p{L}\p{N}]+/u).filter(Boolean);
      const tail = words(answer.text).slice(-4).join(' ');
      const shown = words(await chatLog(page).innerText()).join(' ');
      assert.ok(shown.includes(tail), `the page shows the answer's end ("${tail}")`);
      await checkPage(page, 'chat');
    });

    test('record a voice message and send it', { timeout: 300_000 }, async () => {
      // A browser of its own: Chromium grants the microphone and feeds it a test tone.
      const micBrowser = await launch({ fakeMicrophone: true });
      try {
        const context = await newContext(micBrowser, server.url);
        const page = await context.newPage();
        // Notes which audio capture the page uses (worklet fetches are not network events here).
        await page.addInitScript(() => {
          const seen = { modules: [], scriptProcessors: 0 };
          window.__tesseraAudio = seen;
          const addModule = AudioWorklet.prototype.addModule;
          AudioWorklet.prototype.addModule = function (url, ...rest) {
            seen.modules.push(String(url));
            return addModule.call(this, url, ...rest);
          };
          const createScriptProcessor = BaseAudioContext.prototype.createScriptProcessor;
          BaseAudioContext.prototype.createScriptProcessor = function (...args) {
            seen.scriptProcessors++;
            return createScriptProcessor.apply(this, args);
          };
        });
        await signUpViaApi(context, 'vera');
        await page.goto('/chat');
        await messageBox(page).waitFor();
        const { items: before } = await api(context, 'GET', '/api/content');

        await page.getByRole('button', { name: 'Record a voice message' }).click();
        const finish = page.getByRole('button', { name: 'Finish recording' });
        await finish.waitFor();
        const meter = page.getByRole('meter', { name: 'Microphone level' });
        await eventually('the level meter to hear the test tone', async () => Number(await meter.getAttribute('aria-valuenow')) > 0, {
          interval: 50,
        });
        const timer = page.getByRole('timer', { name: 'Recording time' });
        await eventually('two seconds to be recorded', async () => /^0:0[2-9]/.test(await timer.innerText()), { interval: 100 });
        await checkPage(page, 'chat-recording');
        // The samples come from an AudioWorklet loaded from the server's own assets (the CSP
        // allows no data: or blob: modules), not from the ScriptProcessor fallback.
        const audio = await page.evaluate(() => window.__tesseraAudio);
        assert.ok(audio.modules.some((u) => /\/assets\/pcm-capture\.worklet-[\w-]+\.js$/.test(u)), `the worklet module (${audio.modules})`);
        assert.equal(audio.scriptProcessors, 0, 'no ScriptProcessor fallback');
        await finish.click();

        const chip = page.getByRole('list', { name: 'Attachments to send' }).getByText(/^voice-message-[\d-]+\.wav$/);
        await chip.waitFor();
        const fileName = await chip.innerText();
        assert.equal(await timer.count(), 0, 'the timer is gone once the recording is done');
        await checkPage(page, 'chat-voice-message');

        await send(page, 'What does this voice message say?');
        await atPath(page, /^\/chat\/[0-9a-f-]{36}/);
        const stem = fileName.replace(/\.wav$/, '');
        // The sent message shows the recording, now a library item.
        await chatLog(page).getByRole('list', { name: 'Attachments' }).getByRole('link', { name: stem }).waitFor({ timeout: 30_000 });

        const { items } = await api(context, 'GET', '/api/content');
        const added = items.filter((i) => !before.some((b) => b.id === i.id));
        const voice = added.find((i) => i.filename === fileName || i.title === stem);
        assert.ok(voice, `the library holds the recording (new items: ${JSON.stringify(added.map((i) => [i.title, i.filename]))})`);
        assert.equal(voice.modality, 'audio');
        assert.equal(voice.extension, 'wav');
        const analysed = await analysedViaApi(context, voice.id, PROCESSING_TIMEOUT);
        assert.equal(analysed.analysis.state, 'ready', `the recording was analysed (${analysed.analysis.error ?? ''})`);
        assert.equal(analysed.media.sample_rate, 16_000);
        assert.equal(analysed.media.channels, 1);
        assert.ok(analysed.media.duration_secs >= 1.5, `about two seconds were recorded (${analysed.media.duration_secs} s)`);
        // Let the answer end before the browser goes.
        await page.getByRole('button', { name: /^stop/i }).waitFor({ state: 'hidden', timeout: 180_000 });
      } finally {
        await micBrowser.close();
      }
    });
  });

  suite('create', () => {
    test('generate speech and play it', { timeout: 180_000 }, async () => {
      const page = await alicePage();
      await page.goto('/create');
      await pageHeading(page, /create/i).waitFor();
      const tab = page.getByRole('tab', { name: /speech/i });
      if (await tab.count()) await tab.first().click();
      await checkPage(page, 'create');
      await page.getByRole('textbox', { name: 'Text to speak' }).fill('Hello from the end to end test. The garden opens at nine.');
      await page.getByRole('button', { name: 'Generate speech' }).click();
      await page.getByRole('region', { name: 'Result' }).waitFor({ timeout: 120_000 });
      await eventually('the generated speech to load', async () => (await mediaState(page, 'audio'))?.readyState >= 1, {
        timeout: 120_000,
      });
      const play = page.getByRole('button', { name: /^play/i });
      if (await play.count()) await play.first().click();
      else await page.evaluate(() => document.querySelector('audio').play());
      await eventually('the speech to play', async () => (await mediaState(page, 'audio')).currentTime > 0.2, { timeout: 20_000 });
      await checkPage(page, 'create-speech');
    });
  });

  suite('admin', () => {
    test('an admin changes a quota and the user hits it', { timeout: 180_000 }, async () => {
      const userContext = await newContext(browser, server.url);
      const adminContext = await newContext(browser, server.url);
      try {
        const bob = await signUpViaApi(userContext, 'bob');
        await uploadViaApi(userContext, plainImage('bob-1.png', 'red'));
        const uploads = (await api(userContext, 'GET', '/api/usage')).today.uploads;
        assert.ok(uploads >= 1);

        const admin = await adminContext.newPage();
        await signInViaUi(admin, server.admin);
        await navLink(admin, 'Users').click();
        await atPath(admin, /^\/admin\/users/);
        const edit = admin.getByRole('button', { name: `Edit quota of ${bob.email}` });
        await edit.waitFor();
        await checkPage(admin, 'admin-users');
        await edit.click();
        const dialog = admin.getByRole('dialog', { name: /quota/i });
        await dialog.getByLabel('Uploads per day').fill(String(uploads));
        await checkPage(admin, 'admin-quota');
        await dialog.getByRole('button', { name: 'Save quota' }).click();
        await dialog.waitFor({ state: 'hidden' });
        await eventually('the quota to be in force', async () => (await api(userContext, 'GET', '/api/usage')).limits.uploads_per_day === uploads);

        const page = await userContext.newPage();
        await page.goto('/library');
        await pageHeading(page, 'Library').waitFor();
        await uploadViaUi(page, [plainImage('bob-2.png', 'blue')]);
        await page.getByRole('alert').filter({ hasText: /upload limit|quota/i }).first().waitFor();
        await checkPage(page, 'library-quota-error');

        await page.goto('/usage');
        await pageHeading(page, 'Usage').waitFor();
        await checkPage(page, 'usage');
      } finally {
        await userContext.close();
        await adminContext.close();
      }
    });

    test('the other admin pages open', { timeout: 120_000 }, async () => {
      const context = await newContext(browser, server.url);
      try {
        await signInViaApi(context, server.admin.email, server.admin.password);
        const page = await context.newPage();
        for (const [name, path] of [
          ['Models', '/admin/models'],
          ['Jobs', '/admin/jobs'],
          ['Projections', '/admin/projections'],
        ]) {
          await page.goto(path);
          await pageHeading(page, name).waitFor();
          await checkPage(page, `admin-${name.toLowerCase()}`);
        }
      } finally {
        await context.close();
      }
    });
  });
});
