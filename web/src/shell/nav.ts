import { ChartIcon, ChatIcon, CpuIcon, KeyIcon, LayersIcon, LibraryIcon, QueueIcon, SearchIcon, SparklesIcon, UsersIcon } from '../ui/icons';

export interface NavItem {
  to: string;
  label: string;
  Icon: typeof LibraryIcon;
  /** Its keyboard shortcut, shown as a hint (the control it focuses carries `aria-keyshortcuts`). */
  shortcut?: string;
}

/** The sidebar, in order. A new top-level page adds its entry here and its route in router.tsx. */
export const MAIN_NAV: NavItem[] = [
  { to: '/library', label: 'Library', Icon: LibraryIcon },
  { to: '/search', label: 'Search', Icon: SearchIcon, shortcut: '/' },
  { to: '/chat', label: 'Chat', Icon: ChatIcon },
  { to: '/create', label: 'Create', Icon: SparklesIcon },
  { to: '/usage', label: 'Usage', Icon: ChartIcon },
  { to: '/settings/api-keys', label: 'API keys', Icon: KeyIcon },
];

/** Shown to administrators only. */
export const ADMIN_NAV: NavItem[] = [
  { to: '/admin/users', label: 'Users', Icon: UsersIcon },
  { to: '/admin/models', label: 'Models', Icon: CpuIcon },
  { to: '/admin/jobs', label: 'Jobs', Icon: QueueIcon },
  { to: '/admin/projections', label: 'Projections', Icon: LayersIcon },
];
