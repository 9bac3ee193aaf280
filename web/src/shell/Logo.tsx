import { Link } from 'react-router';

/** The mark and the name, as drawn (also in the loading shell, see ShellSkeleton). */
export function LogoMark() {
  return (
    <>
      <svg viewBox="0 0 32 32" className="size-7" aria-hidden="true">
        <rect width="32" height="32" rx="8" className="fill-brand-600" />
        <g fill="#fff">
          <rect x="7" y="7" width="8" height="8" rx="2" />
          <rect x="17" y="7" width="8" height="8" rx="2" opacity=".7" />
          <rect x="7" y="17" width="8" height="8" rx="2" opacity=".7" />
          <rect x="17" y="17" width="8" height="8" rx="2" opacity=".45" />
        </g>
      </svg>
      <span className="text-[15px] font-semibold tracking-tight">Tessera</span>
    </>
  );
}

export function Logo() {
  return (
    <Link to="/" className="flex items-center gap-2 rounded-md text-zinc-900 dark:text-zinc-50" aria-label="Tessera home">
      <LogoMark />
    </Link>
  );
}
