import DOMPurify from 'dompurify';
import { marked, type Token, type Tokens } from 'marked';
import { memo, useMemo } from 'react';

import { CopyButton } from '../../ui/CopyButton';
import { cx } from '../../ui/cx';

// Links open in a new tab without handing it this page; pictures from elsewhere are not loaded.
DOMPurify.addHook('afterSanitizeAttributes', (node) => {
  if (node.tagName === 'A') {
    node.setAttribute('target', '_blank');
    node.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const PURIFY = {
  FORBID_TAGS: ['img', 'style', 'form', 'input', 'button', 'iframe', 'video', 'audio', 'svg', 'math'],
  FORBID_ATTR: ['style'],
  ADD_ATTR: ['target'],
};

/** Markdown → sanitised HTML. Model output is untrusted: nothing reaches the page unsanitised. */
export function renderMarkdownHtml(markdown: string | Token[]): string {
  const html = typeof markdown === 'string' ? marked.parse(markdown, { async: false, gfm: true }) : marked.parser(markdown);
  return DOMPurify.sanitize(html, PURIFY);
}

const prose = cx(
  'flex min-w-0 flex-col gap-3 break-words text-[0.9375rem] leading-7 text-zinc-800 dark:text-zinc-200',
  '[&_li>p]:my-1',
  '[&_ul]:my-1 [&_ul]:list-disc [&_ul]:pl-6 [&_ol]:my-1 [&_ol]:list-decimal [&_ol]:pl-6 [&_li]:my-1',
  '[&_h1]:mt-2 [&_h1]:text-xl [&_h1]:font-semibold [&_h2]:mt-2 [&_h2]:text-lg [&_h2]:font-semibold',
  '[&_h3]:mt-1 [&_h3]:font-semibold [&_h4]:font-semibold',
  '[&_a]:font-medium [&_a]:text-brand-600 [&_a]:underline dark:[&_a]:text-brand-100',
  '[&_blockquote]:border-l-4 [&_blockquote]:border-zinc-300 [&_blockquote]:pl-4 [&_blockquote]:text-zinc-600 dark:[&_blockquote]:border-zinc-700 dark:[&_blockquote]:text-zinc-400',
  '[&_:not(pre)>code]:rounded [&_:not(pre)>code]:bg-zinc-100 [&_:not(pre)>code]:px-1.5 [&_:not(pre)>code]:py-0.5 [&_:not(pre)>code]:text-[0.85em] dark:[&_:not(pre)>code]:bg-zinc-800',
  '[&_pre]:overflow-x-auto [&_pre]:rounded-lg [&_pre]:bg-zinc-950 [&_pre]:p-3 [&_pre]:text-sm [&_pre]:text-zinc-100',
  '[&_table]:block [&_table]:overflow-x-auto [&_table]:text-sm [&_th]:border [&_th]:border-zinc-300 [&_th]:px-2 [&_th]:py-1 [&_td]:border [&_td]:border-zinc-300 [&_td]:px-2 [&_td]:py-1 dark:[&_th]:border-zinc-700 dark:[&_td]:border-zinc-700',
  '[&_hr]:my-1 [&_hr]:border-zinc-200 dark:[&_hr]:border-zinc-800',
);

/** A fenced code block with its language and a copy button. */
function CodeBlock({ code, lang }: { code: string; lang: string }) {
  return (
    <div className="overflow-hidden rounded-lg border border-zinc-800 bg-zinc-950 text-zinc-100">
      <div className="flex items-center justify-between gap-2 border-b border-zinc-800 py-1 pr-1 pl-3 text-xs text-zinc-300">
        <span>{lang || 'code'}</span>
        <CopyButton
          text={code}
          label="Copy code"
          variant="ghost"
          size="sm"
          className="h-7 text-zinc-200! hover:bg-zinc-800! hover:text-white! dark:text-zinc-200!"
        />
      </div>
      <pre className="overflow-x-auto p-3 text-sm leading-6">
        <code>{code}</code>
      </pre>
    </div>
  );
}

/** One top-level block; unchanged blocks are not parsed again while an answer streams. */
const Block = memo(function Block({ token }: { token: Token }) {
  if (token.type === 'code') {
    const t = token as Tokens.Code;
    return <CodeBlock code={t.text} lang={(t.lang ?? '').split(/\s/)[0] ?? ''} />;
  }
  // Sanitised by DOMPurify in renderMarkdownHtml.
  return <div dangerouslySetInnerHTML={{ __html: renderMarkdownHtml([token]) }} />;
}, (a, b) => a.token.raw === b.token.raw);

/** Renders model output as sanitised Markdown, with copyable code blocks. */
export function Markdown({ text, className }: { text: string; className?: string }) {
  const tokens = useMemo(() => {
    const list = marked.lexer(text, { gfm: true });
    // Link definitions live on the list itself; each block is parsed alone, so keep them with it.
    return list.filter((t) => t.type !== 'space');
  }, [text]);
  return (
    <div className={cx(prose, className)}>
      {tokens.map((t, i) => (
        <Block key={i} token={t} />
      ))}
    </div>
  );
}
