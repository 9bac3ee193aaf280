import { ChartIcon, ChatIcon, CpuIcon, KeyIcon, LayersIcon, LibraryIcon, QueueIcon, SparklesIcon, UsersIcon } from '../ui/icons';

export interface NavItem {
  to: string;
  label: string;
  Icon: typeof LibraryIcon;
}

/** The sidebar, in order. A new top-level page adds its entry here and its route in router.tsx. */
export const MAIN_NAV: NavItem[] = [
  { to: '/library', label: 'Library', Icon: LibraryIcon },
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
