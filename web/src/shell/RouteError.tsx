import { isRouteErrorResponse, Link, useRouteError } from 'react-router';

import { Button } from '../ui/Button';
import { ErrorPanel } from '../ui/ErrorBoundary';

/** A page's code could not be fetched: usually a new version was deployed since this tab loaded. */
function isChunkLoadError(error: unknown): boolean {
  return error instanceof Error && /dynamically imported module|Importing a module script failed|error loading dynamically/i.test(error.message);
}

/** The router's last resort: a route threw while loading or rendering. */
export function RouteError() {
  const error = useRouteError();
  return (
    <main id="main" className="mx-auto flex min-h-dvh max-w-lg flex-col justify-center px-4 py-10">
      {isChunkLoadError(error) ? (
        <div className="text-center">
          <h1 className="text-xl font-semibold">Tessera was updated</h1>
          <p className="mt-2 text-sm text-zinc-600 dark:text-zinc-400">Reload to get the new version.</p>
          <Button variant="primary" className="mt-6" onClick={() => window.location.reload()}>
            Reload
          </Button>
        </div>
      ) : isRouteErrorResponse(error) && error.status === 404 ? (
        <ErrorPanel title="Page not found" error={new Error('There is nothing at this address.')} />
      ) : (
        <ErrorPanel error={error} retry={() => window.location.reload()} />
      )}
      <p className="mt-6 text-center text-sm">
        <Link to="/" className="font-medium text-brand-600 hover:underline dark:text-brand-100">
          Go to the library
        </Link>
      </p>
    </main>
  );
}
