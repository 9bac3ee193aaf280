import { renderToStaticMarkup } from 'react-dom/server';
import { expect, it } from 'vitest';

import indexHtml from '../../index.html?raw';
import { ShellSkeleton } from './ShellSkeleton';

it('is what index.html shows before the scripts run', () => {
  const root = indexHtml.match(/<div id="root">([\s\S]*)<\/div>\s*<noscript>/)?.[1] ?? '';
  expect(root.replace(/>\s+</g, '><').trim()).toBe(renderToStaticMarkup(<ShellSkeleton />));
});
