import { formatDateTime, formatRelative } from './format';

/** "5 minutes ago", with the exact time on hover and for machines. */
export function RelativeTime({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <span>—</span>;
  return (
    <time dateTime={iso} title={formatDateTime(iso)}>
      {formatRelative(iso)}
    </time>
  );
}
