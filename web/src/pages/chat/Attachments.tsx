import { useQuery } from '@tanstack/react-query';
import { useMemo } from 'react';
import { Link } from 'react-router';

import { api, call, type Schema } from '../../api/client';
import { queryKeys } from '../../api/queryKeys';
import { cx } from '../../ui/cx';
import { XIcon } from '../../ui/icons';
import { FileIcon, MicIcon } from './icons';

type Item = Schema<'ItemView'>;

const thumbBox = 'flex size-10 shrink-0 items-center justify-center overflow-hidden rounded-md bg-zinc-100 text-zinc-500 dark:bg-zinc-800 dark:text-zinc-400';

function thumbUrl(item: Item): string | undefined {
  const images = item.previews.images;
  return (images.find((p) => p.name === 'thumb-256') ?? images.find((p) => p.name === 'poster') ?? images[0])?.url;
}

/** A small square picture of an item: its thumbnail, or an icon for its kind. */
export function ItemThumb({ item, className }: { item: Item; className?: string }) {
  const url = thumbUrl(item);
  return (
    <span className={cx(thumbBox, className)}>
      {url ? <img src={url} alt="" className="size-full object-cover" loading="lazy" /> : item.modality === 'audio' ? <MicIcon /> : <FileIcon />}
    </span>
  );
}

/** A picture of a file about to be uploaded (images only). */
function FileThumb({ file }: { file: File }) {
  const url = useMemo(() => (file.type.startsWith('image/') ? URL.createObjectURL(file) : null), [file]);
  return (
    <span className={thumbBox}>
      {/* Once drawn, the picture no longer needs its object URL. */}
      {url ? <img src={url} alt="" className="size-full object-cover" onLoad={() => URL.revokeObjectURL(url)} /> : file.type.startsWith('audio/') ? <MicIcon /> : <FileIcon />}
    </span>
  );
}

const chip =
  'flex max-w-[15rem] items-center gap-2 rounded-lg border border-zinc-200 bg-white py-1 pr-1 pl-1 text-sm shadow-sm dark:border-zinc-700 dark:bg-zinc-900';

/** An attachment of the message being written: a library item or a file to upload. */
export function DraftChip({ item, file, onRemove }: { item?: Item; file?: File; onRemove: () => void }) {
  const name = item?.title ?? file?.name ?? 'Attachment';
  return (
    <li className={chip}>
      {item ? <ItemThumb item={item} className="size-8" /> : file ? <FileThumb file={file} /> : null}
      <span className="min-w-0 flex-1">
        <span className="block truncate font-medium">{name}</span>
        <span className="block text-xs text-zinc-500 dark:text-zinc-400">{item ? 'From your library' : 'Uploads when sent'}</span>
      </span>
      <button
        type="button"
        onClick={onRemove}
        aria-label={`Remove ${name}`}
        title={`Remove ${name}`}
        className="flex size-7 shrink-0 items-center justify-center rounded-md text-zinc-500 hover:bg-zinc-100 hover:text-zinc-900 dark:hover:bg-zinc-800 dark:hover:text-zinc-100"
      >
        <XIcon />
      </button>
    </li>
  );
}

/** An item attached to a sent message, linking to it. */
function SentAttachment({ id }: { id: string }) {
  const query = useQuery({
    queryKey: queryKeys.content.item(id),
    queryFn: () => call(api.GET('/api/content/{id}', { params: { path: { id } } })),
    staleTime: 60_000,
  });
  const item = query.data;
  return (
    <li>
      <Link to={`/content/${id}`} className={cx(chip, 'pr-3 hover:border-brand-500')}>
        {item ? <ItemThumb item={item} className="size-8" /> : <span className={cx(thumbBox, 'size-8')} />}
        <span className="truncate font-medium">{item?.title ?? (query.isError ? 'Unavailable item' : 'Loading…')}</span>
      </Link>
    </li>
  );
}

export function SentAttachments({ ids }: { ids: string[] }) {
  if (ids.length === 0) return null;
  return (
    <ul className="flex flex-wrap justify-end gap-2" aria-label="Attachments">
      {ids.map((id) => (
        <SentAttachment key={id} id={id} />
      ))}
    </ul>
  );
}
