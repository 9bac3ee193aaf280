import { memo, useId } from 'react';
import { Link } from 'react-router';

import { Button } from '../../ui/Button';
import { cx } from '../../ui/cx';
import { formatBytes } from '../../ui/format';
import { RelativeTime } from '../../ui/RelativeTime';
import { ActionMenu, type MenuAction } from './ActionMenu';
import { daysUntil } from './format';
import { RestoreIcon } from './icons';
import { ItemPreview } from './ItemPreview';
import { ProcessingStatus } from './ProcessingStatus';
import type { Item } from './types';

export type ItemAction = 'rename' | 'tags' | 'delete' | 'restore' | 'purge';

const MODALITY_LABEL: Record<string, string> = { text: 'Text', image: 'Image', audio: 'Audio', video: 'Video' };

interface Props {
  item: Item;
  view: 'grid' | 'list';
  trash: boolean;
  /** Stable across renders (the page's one handler), so unchanged cards never re-render. */
  onAction: (action: ItemAction, item: Item) => void;
  busy?: boolean;
}

function Tags({ tags }: { tags: string[] }) {
  if (tags.length === 0) return null;
  const shown = tags.slice(0, 3);
  return (
    <p className="flex min-w-0 flex-wrap gap-1" aria-label="Tags">
      {shown.map((t) => (
        <span key={t} className="max-w-full truncate rounded-md bg-zinc-100 px-1.5 py-0.5 text-[11px] text-zinc-700 dark:bg-zinc-800 dark:text-zinc-300">
          #{t}
        </span>
      ))}
      {tags.length > shown.length && <span className="px-1 text-[11px] text-zinc-500 dark:text-zinc-400">+{tags.length - shown.length}</span>}
    </p>
  );
}

/** One library item: a card in the grid, a row in the list. Clicking it opens `/content/:id`. */
export const ItemCard = memo(function ItemCard({ item, view, trash, onAction, busy }: Props) {
  const titleId = useId();
  const actions: MenuAction[] = trash
    ? [
        { label: 'Restore', onSelect: () => onAction('restore', item) },
        { label: 'Delete forever…', onSelect: () => onAction('purge', item), danger: true },
      ]
    : [
        { label: 'Rename…', onSelect: () => onAction('rename', item) },
        { label: 'Edit tags…', onSelect: () => onAction('tags', item) },
        { label: 'Move to Trash', onSelect: () => onAction('delete', item), danger: true },
      ];
  const subtitle = item.filename && item.filename !== item.title ? item.filename : null;
  const meta = (
    <>
      <span>{MODALITY_LABEL[item.modality] ?? item.modality}</span>
      <span aria-hidden="true">·</span>
      <span>{formatBytes(item.size)}</span>
      <span aria-hidden="true">·</span>
      <RelativeTime iso={item.created_at} />
    </>
  );
  const status = trash ? (
    <p className="text-xs text-zinc-500 dark:text-zinc-400">
      {item.purge_after ? `Deleted for good in ${daysUntil(item.purge_after)} day${daysUntil(item.purge_after) === 1 ? '' : 's'}` : 'In the Trash'}
    </p>
  ) : (
    <ProcessingStatus item={item} compact={view === 'list'} />
  );
  const restore = trash && (
    <Button size="sm" icon={<RestoreIcon />} onClick={() => onAction('restore', item)} loading={busy} aria-label={`Restore ${item.title}`}>
      Restore
    </Button>
  );
  const link = (
    <Link
      to={`/content/${item.id}`}
      className="rounded-sm font-medium text-zinc-900 outline-none after:absolute after:inset-0 after:rounded-[inherit] after:content-[''] focus-visible:after:outline-2 focus-visible:after:outline-offset-2 focus-visible:after:outline-brand-500 dark:text-zinc-100"
    >
      {item.title}
    </Link>
  );

  if (view === 'list') {
    return (
      <li className="relative flex items-center gap-3 rounded-xl px-2 py-2 hover:bg-zinc-50 sm:px-3 dark:hover:bg-zinc-900/60">
        <ItemPreview item={item} compact />
        <div className="min-w-0 flex-1">
          <h3 id={titleId} className="truncate text-sm">
            {link}
          </h3>
          <p className="flex min-w-0 flex-wrap items-center gap-x-1.5 truncate text-xs text-zinc-500 dark:text-zinc-400">
            {subtitle && <span className="max-w-48 truncate">{subtitle}</span>}
            {subtitle && <span aria-hidden="true">·</span>}
            {meta}
          </p>
          <div className="relative z-10 mt-1 sm:hidden">{status}</div>
        </div>
        <div className="hidden w-44 shrink-0 md:block">
          <Tags tags={item.tags} />
        </div>
        <div className="relative z-10 hidden shrink-0 sm:block">{status}</div>
        <div className="relative z-10 flex shrink-0 items-center gap-2">
          {restore}
          <ActionMenu label={`Actions for ${item.title}`} actions={actions} />
        </div>
      </li>
    );
  }

  return (
    <li className="[contain-intrinsic-size:auto_320px] [content-visibility:auto]">
      <article
        aria-labelledby={titleId}
        className={cx(
          'group relative flex h-full flex-col overflow-hidden rounded-xl border border-zinc-200 bg-white shadow-sm transition-shadow hover:shadow-md',
          'dark:border-zinc-800 dark:bg-zinc-900',
        )}
      >
        <ItemPreview item={item} />
        <div className="flex flex-1 flex-col gap-1.5 p-3">
          <h3 id={titleId} className="truncate text-sm">
            {link}
          </h3>
          {subtitle && <p className="-mt-1 truncate text-xs text-zinc-500 dark:text-zinc-400">{subtitle}</p>}
          <p className="flex flex-wrap items-center gap-x-1.5 text-xs text-zinc-500 dark:text-zinc-400">{meta}</p>
          <Tags tags={item.tags} />
          <div className="relative z-10 mt-auto flex min-h-8 items-end justify-between gap-2 pt-1">
            {status}
            {restore}
          </div>
        </div>
        <ActionMenu
          label={`Actions for ${item.title}`}
          actions={actions}
          className="absolute top-2 right-2 z-10 opacity-100 transition-opacity sm:opacity-0 sm:group-focus-within:opacity-100 sm:group-hover:opacity-100 [&:has([aria-expanded=true])]:opacity-100"
        />
      </article>
    </li>
  );
});
