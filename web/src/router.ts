import { useSyncExternalStore } from 'react';

/** Hash routes (#/models): the server serves one index.html and never has to know the dashboard's paths. */
export type Route = 'models' | 'hub' | 'fleet' | 'nodes' | 'repairs' | 'jobs' | 'keys';

export const ROUTES: ReadonlyArray<{ route: Route; label: string }> = [
  { route: 'models', label: 'Models' },
  { route: 'hub', label: 'Hugging Face' },
  { route: 'fleet', label: 'Fleet' },
  { route: 'nodes', label: 'Nodes' },
  { route: 'repairs', label: 'Repairs' },
  { route: 'jobs', label: 'Jobs' },
  { route: 'keys', label: 'Keys' },
];

function current(): Route {
  const name = location.hash.replace(/^#\/?/, '').split(/[/?]/)[0];
  return ROUTES.find((r) => r.route === name)?.route ?? 'models';
}

export function useRoute(): Route {
  return useSyncExternalStore((l) => {
    window.addEventListener('hashchange', l);
    return () => window.removeEventListener('hashchange', l);
  }, current);
}
