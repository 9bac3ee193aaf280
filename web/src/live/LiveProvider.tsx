import { useQueryClient } from '@tanstack/react-query';
import { useEffect, useState, type ReactNode } from 'react';

import { endSession, refreshSession } from '../api/session';
import { createInvalidator } from './invalidation';
import { LiveContext } from './LiveContext';
import { LiveSocket } from './socket';

/** Opens the tab's one live socket while signed-in pages are shown. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const queryClient = useQueryClient();
  const [socket] = useState(
    () =>
      new LiveSocket({
        // The cookie was refused: refresh it (unless that just happened) and reconnect.
        reauthenticate: () => refreshSession(),
        // Could not resume: whatever is on screen may be behind.
        onGap: () => void queryClient.invalidateQueries(),
        onEnded: () => endSession(),
      }),
  );

  useEffect(() => {
    const invalidator = createInvalidator(queryClient);
    const off = socket.subscribe('*', invalidator.push);
    socket.start();
    return () => {
      off();
      invalidator.dispose();
      socket.stop();
    };
  }, [socket, queryClient]);

  return <LiveContext value={socket}>{children}</LiveContext>;
}
