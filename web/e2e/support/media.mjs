// Test media made at test time with ffmpeg and espeak-ng (as tests/processing_media.rs does
// with ffmpeg and the Piper voice): a sign with text, spoken sentences, a short video.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const FONT = '/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf';
const dir = mkdtempSync(join(tmpdir(), 'tessera-e2e-media-'));

function ffmpeg(args) {
  execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-y', ...args], { stdio: 'inherit' });
}

/** `{ name, mimeType, buffer, path }` for Playwright's setInputFiles and multipart bodies. */
function file(name, mimeType) {
  const path = join(dir, name);
  return { name, mimeType, buffer: readFileSync(path), path };
}

/** A white sign reading `text` (OCR finds it). */
export function signImage(name = 'sign.png', text = 'OPEN DAILY FROM NINE') {
  ffmpeg([
    '-f', 'lavfi', '-i', 'color=c=white:s=720x200',
    '-vf', `drawtext=fontfile=${FONT}:text='${text}':fontsize=48:fontcolor=black:x=40:y=75`,
    '-frames:v', '1', join(dir, name),
  ]);
  return file(name, 'image/png');
}

/** A small plain image of one colour; different colours give different bytes. */
export function plainImage(name, colour) {
  ffmpeg(['-f', 'lavfi', '-i', `color=c=${colour}:s=64x64`, '-frames:v', '1', join(dir, name)]);
  return file(name, 'image/png');
}

/** Two sentences of speech with a pause between them (so the transcript has two lines). */
function speechWav(path, first, second) {
  const ssml = `<speak>${first}<break time="1200ms"/>${second}</speak>`;
  execFileSync('espeak-ng', ['-m', '-s', '140', '-w', path, ssml]);
}

export function speechAudio(name = 'notice.wav') {
  speechWav(
    join(dir, name),
    'The library opens at nine in the morning.',
    'Please return your books on time.',
  );
  return file(name, 'audio/wav');
}

/** A title card reading GARDEN TOUR, then a green scene, over spoken sentences. */
export function tourVideo(name = 'tour.mp4') {
  const voice = join(dir, 'tour-voice.wav');
  speechWav(voice, 'Welcome to the garden tour.', 'Today we plant tomatoes and water the roses.');
  ffmpeg([
    '-f', 'lavfi', '-i', 'color=c=white:s=640x360:d=3:r=10',
    '-f', 'lavfi', '-i', 'color=c=darkgreen:s=640x360:d=3:r=10',
    '-i', voice,
    '-filter_complex',
    `[0:v]drawtext=fontfile=${FONT}:text='GARDEN TOUR':fontsize=56:fontcolor=black:x=60:y=100[a];[a][1:v]concat=n=2:v=1:a=0[v]`,
    '-map', '[v]', '-map', '2:a',
    '-c:v', 'libx264', '-pix_fmt', 'yuv420p', '-c:a', 'aac', '-shortest',
    join(dir, name),
  ]);
  return file(name, 'video/mp4');
}

process.on('exit', () => {
  try {
    execFileSync('rm', ['-rf', dir]);
  } catch {
    // best effort
  }
});
