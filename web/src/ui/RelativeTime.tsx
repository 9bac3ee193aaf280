import { formatDateTime, formatRelative } from './format';

/** Sets the exact time as the element's title the first time it is wanted (see below). */
function addExactTitle(el: HTMLElement, iso: string) {
  if (el.dataset.titleOf === iso) return;
  el.title = formatDateTime(iso);
  el.dataset.titleOf = iso;
}

/**
 * "5 minutes ago", with the exact time on hover and for machines (`dateTime`). The exact time
 * is written into the title when the pointer or focus first comes to it, not while rendering:
 * the date-time formatter is among the slowest things a page can make (tens of milliseconds on
 * a phone, in one piece), and a list of cards would otherwise make it during its first load.
 */
export function RelativeTime({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return (
    <time
      dateTime={iso}
      onPointerEnter={(e) => addExactTitle(e.currentTarget, iso)}
      onFocus={(e) => addExactTitle(e.currentTarget, iso)}
    >
      {formatRelative(iso)}
    </time>
  );
}
