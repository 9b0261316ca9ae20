import { useMutation, useQuery } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { ErrorText } from '../components/bits';
import type { ApiKeyRole } from '../gql/graphql';
import { ApiKeysQuery, CreateApiKey, RevokeApiKey } from '../ops/operations';
import { useSession } from '../session-context';

const ROLES: ApiKeyRole[] = ['VIEWER', 'OPERATOR', 'ADMIN', 'INFERENCE'];

/** API keys (ADMIN): create (the secret is shown once), list, revoke. */
export default function KeysPage() {
  const { isAdmin } = useSession();
  if (!isAdmin) return <p>Only an ADMIN key manages keys.</p>;
  return <Keys />;
}

function Keys() {
  const { data, error } = useQuery(ApiKeysQuery);
  const [create, created] = useMutation(CreateApiKey, { refetchQueries: [ApiKeysQuery] });
  const [revoke, revoked] = useMutation(RevokeApiKey);
  const [name, setName] = useState('');
  const [role, setRole] = useState<ApiKeyRole>('VIEWER');
  const [secret, setSecret] = useState<string | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({ variables: { name: name.trim(), role, expiresAt: null } }).catch(() => null);
    if (res?.data) {
      setSecret(res.data.createApiKey.key);
      setName('');
    }
  };
  return (
    <section aria-labelledby="keys-title">
      <h1 id="keys-title">API keys</h1>
      <form className="toolbar" onSubmit={(e) => void submit(e)}>
        <label>
          Name <input value={name} onChange={(e) => setName(e.target.value)} required />
        </label>
        <label>
          Role{' '}
          <select value={role} onChange={(e) => setRole(e.target.value as ApiKeyRole)}>
            {ROLES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={!name.trim()}>
          Create key
        </button>
      </form>
      {secret ? (
        <div className="panel" role="status">
          <p>The new key, shown this once — store it now:</p>
          <code className="secret" data-testid="new-key">
            {secret}
          </code>{' '}
          <button type="button" onClick={() => setSecret(null)}>
            Done
          </button>
        </div>
      ) : null}
      <ErrorText error={error ?? created.error ?? revoked.error} />
      <table className="grid">
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Role</th>
            <th scope="col">Prefix</th>
            <th scope="col">Created</th>
            <th scope="col">Last used</th>
            <th scope="col">Expires</th>
            <th scope="col">State</th>
          </tr>
        </thead>
        <tbody>
          {(data?.apiKeys ?? []).map((k) => (
            <tr key={k.id}>
              <th scope="row">{k.name}</th>
              <td>{k.role}</td>
              <td className="mono">{k.prefix}…</td>
              <td>{new Date(k.createdAt).toLocaleString()}</td>
              <td>{k.lastUsedAt ? new Date(k.lastUsedAt).toLocaleString() : 'never'}</td>
              <td>{k.expiresAt ? new Date(k.expiresAt).toLocaleString() : 'never'}</td>
              <td>
                {k.revokedAt ? (
                  'revoked'
                ) : (
                  <button
                    type="button"
                    className="danger"
                    onClick={() => void revoke({ variables: { id: k.id } }).catch(() => undefined)}
                  >
                    Revoke {k.name}
                  </button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
