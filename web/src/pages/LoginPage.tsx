import { useState, type FormEvent } from 'react';
import { signIn, type SessionState } from '../session';

export function LoginPage({ message, onSignedIn }: { message?: string; onSignedIn: (s: SessionState) => void }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(message);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    try {
      const next = await signIn(key.trim());
      setKey('');
      if (next.kind === 'signed-out') setError(next.message);
      else onSignedIn(next);
    } catch (err) {
      setError(String(err));
    } finally {
      setBusy(false);
    }
  };
  return (
    <main className="login">
      <form onSubmit={(e) => void submit(e)} aria-labelledby="login-title">
        <h1 id="login-title">llmfleet</h1>
        <p>Sign in with an API key. The page keeps only an HttpOnly session cookie, never the key.</p>
        <label htmlFor="api-key">API key</label>
        <input
          id="api-key"
          type="password"
          autoComplete="current-password"
          value={key}
          onChange={(e) => setKey(e.target.value)}
          required
          autoFocus
        />
        <button type="submit" disabled={busy || !key.trim()}>
          Sign in
        </button>
        {error ? (
          <p className="error" role="alert">
            {error}
          </p>
        ) : null}
      </form>
    </main>
  );
}
