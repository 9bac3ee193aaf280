import { createContext } from 'react';

import type { LiveSocket } from './socket';

/** The tab's socket; `null` outside signed-in pages. */
export const LiveContext = createContext<LiveSocket | null>(null);
