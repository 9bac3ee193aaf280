import type { Schema } from '../../api/client';
import { Badge, type BadgeTone } from '../../ui/Badge';
import { cx } from '../../ui/cx';
import { formatDateTime } from '../../ui/format';
import { RelativeTime } from '../../ui/RelativeTime';

export type Scope = Schema<'Scope'>;

export interface ScopeInfo {
  scope: Scope;
  label: string;
  /** One line on what the scope allows. */
  hint: string;
  tone: BadgeTone;
}

/** Every scope, in the order the form and the badges show them. */
export const SCOPES: readonly ScopeInfo[] = [
  { scope: 'read', label: 'Read', hint: 'See your library, chats and settings, and follow live updates.', tone: 'neutral' },
  { scope: 'write', label: 'Write', hint: 'Upload, edit and delete, chat, and use the OpenAI-compatible /v1 API.', tone: 'neutral' },
  { scope: 'keys', label: 'Manage API keys', hint: 'Create and revoke API keys; a key never gives a scope it lacks itself.', tone: 'brand' },
  { scope: 'admin', label: 'Admin', hint: 'Use the admin API: users, quotas, models and jobs. Give it only where needed.', tone: 'warning' },
];

/** What a key may do when no scopes are chosen: the server's default too. */
export const DEFAULT_SCOPES: readonly Scope[] = ['read', 'write'];

const byScope = new Map(SCOPES.map((s) => [s.scope, s]));

/** The key's scopes as small badges, in the usual order. */
export function ScopeBadges({ scopes, className }: { scopes: readonly Scope[]; className?: string }) {
  const known = SCOPES.filter((s) => scopes.includes(s.scope));
  // A scope newer than this UI still shows, by its name.
  const other = scopes.filter((s) => !byScope.has(s));
  if (known.length === 0 && other.length === 0) return <span className="text-zinc-500 dark:text-zinc-400">No scopes</span>;
  return (
    <ul aria-label="Scopes" className={cx('flex flex-wrap gap-1', className)}>
      {known.map((s) => (
        <li key={s.scope}>
          <Badge tone={s.tone}>{s.label}</Badge>
        </li>
      ))}
      {other.map((s) => (
        <li key={s}>
          <Badge>{s}</Badge>
        </li>
      ))}
    </ul>
  );
}

const DAY_MS = 86_400_000;

/** Whether a key with this expiry no longer works. */
export function isExpired(expiresAt: string | null | undefined, now = Date.now()): boolean {
  if (!expiresAt) return false;
  const at = Date.parse(expiresAt);
  return !Number.isNaN(at) && at <= now;
}

/** Whether a key has expired, expires within a week, or later (or never). */
export function expiryState(expiresAt: string | null | undefined, now = Date.now()): 'expired' | 'soon' | 'later' | 'never' {
  if (!expiresAt) return 'never';
  if (isExpired(expiresAt, now)) return 'expired';
  return Date.parse(expiresAt) - now < 7 * DAY_MS ? 'soon' : 'later';
}

/**
 * "Expires in 29 days", "Expired 3 days ago" or "Never expires" (the exact time on hover, or
 * written out with `exact`); an expired key's words are red, one about to expire amber.
 */
export function KeyExpiry({ expiresAt, exact = false }: { expiresAt: string | null | undefined; exact?: boolean }) {
  if (!expiresAt) return <span>Never expires</span>;
  const state = expiryState(expiresAt);
  const expired = state === 'expired';
  const soon = state === 'soon';
  return (
    <span className={cx(expired ? 'font-medium text-red-700 dark:text-red-400' : soon && 'font-medium text-amber-700 dark:text-amber-400')}>
      {expired ? 'Expired' : 'Expires'} <RelativeTime iso={expiresAt} />
      {exact && ` (${formatDateTime(expiresAt)})`}
    </span>
  );
}

/** The expiry choices of the create form: days from now, or never. */
export const EXPIRY_CHOICES = [
  { value: 'never', label: 'Never', days: null },
  { value: '30', label: '30 days', days: 30 },
  { value: '90', label: '90 days', days: 90 },
  { value: '365', label: '1 year', days: 365 },
] as const;

export type ExpiryChoice = (typeof EXPIRY_CHOICES)[number]['value'];

/** The RFC 3339 time `choice` days from `now`, or `undefined` for never. */
export function expiresAtFor(choice: ExpiryChoice, now = Date.now()): string | undefined {
  const days = EXPIRY_CHOICES.find((c) => c.value === choice)?.days;
  return days ? new Date(now + days * DAY_MS).toISOString() : undefined;
}
