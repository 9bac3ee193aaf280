import { createContext } from 'react';

import type { ProcessingTracker } from './processing';

/** The page's live progress per item. */
export const ProcessingContext = createContext<ProcessingTracker | null>(null);
