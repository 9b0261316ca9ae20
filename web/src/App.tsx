import { ApolloProvider } from '@apollo/client/react';
import { lazy, Suspense, useCallback, useEffect, useMemo, useState, type ComponentType } from 'react';
import { createApi, type Api } from './apollo';
import { ConnectionBadge } from './components/ConnectionBadge';
import { startLiveUpdates } from './live';
import { LoginPage } from './pages/LoginPage';
import { ROUTES, useRoute, type Route } from './router';
import { atLeast, readSession, signOut, type Principal, type SessionState } from './session';
import { SessionContext } from './session-context';

/** A page's code, fetched when first shown; retried while the control plane is away (a restart must not break a tab). */
function page(load: () => Promise<{ default: ComponentType }>) {
  return lazy(async () => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await load();
      } catch (err) {
        if (attempt >= 30) throw err;
        await new Promise((r) => setTimeout(r, Math.min(5000, 500 * 2 ** attempt)));
      }
    }
  });
}

const ModelsPage = page(() => import('./pages/ModelsPage'));
const HubPage = page(() => import('./pages/HubPage'));
const FleetPage = page(() => import('./pages/FleetPage'));
const NodesPage = page(() => import('./pages/NodesPage'));
const RepairsPage = page(() => import('./pages/RepairsPage'));
const JobsPage = page(() => import('./pages/JobsPage'));
const KeysPage = page(() => import('./pages/KeysPage'));

export function App() {
  const [session, setSession] = useState<SessionState>({ kind: 'loading' });

  useEffect(() => {
    readSession()
      .then(setSession)
      .catch((err: unknown) => setSession({ kind: 'signed-out', message: String(err) }));
  }, []);

  // A refusal (UNAUTHENTICATED, a socket closed 4401/4403) is checked against the session before signing out.
  const expired = useCallback((reason: string) => {
    console.warn(`llmfleet: the server refused a request (${reason}); checking the session`);
    readSession()
      .then((s) => {
        if (s.kind === 'signed-out') setSession({ kind: 'signed-out', message: 'Your session ended: sign in again.' });
      })
      .catch(() => undefined);
  }, []);

  if (session.kind === 'loading') return <p className="splash">Loading…</p>;
  if (session.kind === 'signed-out') return <LoginPage message={session.message} onSignedIn={setSession} />;
  return <SignedIn principal={session.principal} open={session.open} onSignedOut={setSession} onExpired={expired} />;
}

function SignedIn(props: {
  principal: Principal;
  open: boolean;
  onSignedOut: (s: SessionState) => void;
  onExpired: (reason: string) => void;
}) {
  const { onExpired } = props;
  const [api, setApi] = useState<Api | null>(null);
  useEffect(() => {
    const created = createApi(onExpired);
    const stop = startLiveUpdates(created.client, created.ws);
    setApi(created);
    return () => {
      stop();
      void created.dispose();
    };
  }, [onExpired]);
  if (!api) return null;
  return (
    <ApolloProvider client={api.client}>
      <Shell {...props} />
    </ApolloProvider>
  );
}

function Shell({
  principal,
  open,
  onSignedOut,
}: {
  principal: Principal;
  open: boolean;
  onSignedOut: (s: SessionState) => void;
}) {
  const route = useRoute();
  const context = useMemo(
    () => ({
      principal,
      canOperate: atLeast(principal, 'OPERATOR'),
      isAdmin: atLeast(principal, 'ADMIN'),
    }),
    [principal],
  );
  const visible = ROUTES.filter((r) => r.route !== 'keys' || (context.isAdmin && !open));
  const logout = async () => {
    await signOut();
    onSignedOut({ kind: 'signed-out' });
  };
  return (
    <SessionContext.Provider value={context}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="top">
        <strong className="brand">llmfleet</strong>
        <nav aria-label="Pages">
          {visible.map((r) => (
            <a key={r.route} href={`#/${r.route}`} aria-current={r.route === route ? 'page' : undefined}>
              {r.label}
            </a>
          ))}
          <a href="graphql" target="_blank" rel="noreferrer">
            GraphiQL
          </a>
        </nav>
        <ConnectionBadge />
        <span className="who" title={principal.keyId ?? undefined}>
          {principal.name} · <span className="role">{principal.role}</span>
        </span>
        {open ? null : (
          <button type="button" onClick={() => void logout()}>
            Log out
          </button>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<p>Loading…</p>}>
          <Page route={route} />
        </Suspense>
      </main>
    </SessionContext.Provider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route) {
    case 'models':
      return <ModelsPage />;
    case 'hub':
      return <HubPage />;
    case 'fleet':
      return <FleetPage />;
    case 'nodes':
      return <NodesPage />;
    case 'repairs':
      return <RepairsPage />;
    case 'jobs':
      return <JobsPage />;
    case 'keys':
      return <KeysPage />;
  }
}
