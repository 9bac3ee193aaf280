import { useTheme, type ThemeChoice } from '../theme/theme';
import { cx } from '../ui/cx';
import { MonitorIcon, MoonIcon, SunIcon } from '../ui/icons';

const OPTIONS: { value: ThemeChoice; label: string; Icon: typeof SunIcon }[] = [
  { value: 'light', label: 'Light', Icon: SunIcon },
  { value: 'dark', label: 'Dark', Icon: MoonIcon },
  { value: 'system', label: 'System', Icon: MonitorIcon },
];

/** Light / dark / system as a segmented control of toggle buttons. */
export function ThemeToggle({ compact = false }: { compact?: boolean }) {
  const { choice, setChoice } = useTheme();
  return (
    <div role="group" aria-label="Theme" className="inline-flex rounded-lg border border-zinc-200 bg-zinc-100/70 p-0.5 dark:border-zinc-800 dark:bg-zinc-900">
      {OPTIONS.map(({ value, label, Icon }) => (
        <button
          key={value}
          type="button"
          aria-pressed={choice === value}
          aria-label={compact ? `${label} theme` : undefined}
          title={`${label} theme`}
          onClick={() => setChoice(value)}
          className={cx(
            'inline-flex h-7 items-center gap-1.5 rounded-md px-2 text-xs font-medium transition-colors',
            choice === value
              ? 'bg-white text-zinc-900 shadow-sm dark:bg-zinc-700 dark:text-zinc-50'
              : 'text-zinc-500 hover:text-zinc-800 dark:text-zinc-400 dark:hover:text-zinc-200',
          )}
        >
          <Icon className="size-3.5" />
          {!compact && label}
        </button>
      ))}
    </div>
  );
}
