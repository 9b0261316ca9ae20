import { useMutation, useQuery } from '@apollo/client/react';
import { useState, type FormEvent } from 'react';
import { ErrorText } from '../components/bits';
import { count } from '../format';
import type { HfSort } from '../gql/graphql';
import { HfCatalogQuery, RegisterHfModel } from '../ops/operations';
import { useSession } from '../session-context';

const SORTS: HfSort[] = ['DOWNLOADS', 'LIKES', 'TRENDING', 'LAST_MODIFIED', 'CREATED_AT'];

/** Hugging Face's GGUF catalog (seed 002): search, sort, cursor paging, register by click or by pasted URL. */
export default function HubPage() {
  const { canOperate } = useSession();
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState('');
  const [sort, setSort] = useState<HfSort>('DOWNLOADS');
  const [cursors, setCursors] = useState<Array<string | null>>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const { data, error, loading } = useQuery(HfCatalogQuery, {
    variables: { search: applied || null, sort, cursor, limit: 20 },
  });
  const [register, reg] = useMutation(RegisterHfModel, { refetchQueries: 'active' });
  const [url, setUrl] = useState('');
  const [registered, setRegistered] = useState<string | null>(null);

  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    setApplied(search.trim());
    setCursors([null]);
  };
  const submitUrl = async (e: FormEvent) => {
    e.preventDefault();
    setRegistered(null);
    const res = await register({ variables: { url: url.trim() } }).catch(() => null);
    if (res?.data) setRegistered(res.data.registerHfModel.id);
  };
  return (
    <section aria-labelledby="hub-title">
      <h1 id="hub-title">Hugging Face</h1>
      {canOperate ? (
        <form className="toolbar" onSubmit={(e) => void submitUrl(e)}>
          <label>
            Register from URL{' '}
            <input
              value={url}
              onChange={(e) => setUrl(e.target.value)}
              placeholder="https://huggingface.co/org/repo or org/repo"
              size={50}
            />
          </label>
          <button type="submit" disabled={!url.trim() || reg.loading}>
            Register
          </button>
        </form>
      ) : null}
      <ErrorText error={reg.error} />
      {registered ? <p role="status">Registered {registered}.</p> : null}
      <form className="toolbar" role="search" onSubmit={submitSearch}>
        <label>
          Search the Hub <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <button type="submit">Search</button>
        <label>
          Sort{' '}
          <select
            value={sort}
            onChange={(e) => {
              setSort(e.target.value as HfSort);
              setCursors([null]);
            }}
          >
            {SORTS.map((s) => (
              <option key={s} value={s}>
                {s.toLowerCase().replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorText error={error} />
      <table className="grid">
        <thead>
          <tr>
            <th scope="col">Repository</th>
            <th scope="col">Downloads</th>
            <th scope="col">Likes</th>
            <th scope="col">Architecture</th>
            <th scope="col">Params</th>
            <th scope="col">Marks</th>
            {canOperate ? <th scope="col">Action</th> : null}
          </tr>
        </thead>
        <tbody>
          {(data?.hfCatalog.items ?? []).map((e) => (
            <tr key={e.repo}>
              <th scope="row" className="mono">
                {e.repo}
              </th>
              <td>{count(e.downloads)}</td>
              <td>{count(e.likes)}</td>
              <td>{e.architecture ?? '—'}</td>
              <td>{count(e.parameters)}</td>
              <td>
                {e.supported ? <span className="badge s-ready">supported</span> : null}{' '}
                {e.registered ? <span className="badge s-registered">registered</span> : null}
              </td>
              {canOperate ? (
                <td>
                  <button
                    type="button"
                    disabled={reg.loading}
                    onClick={() => void register({ variables: { url: e.repo } }).catch(() => undefined)}
                  >
                    Register {e.repo}
                  </button>
                </td>
              ) : null}
            </tr>
          ))}
        </tbody>
      </table>
      {loading ? <p>Loading…</p> : null}
      <div className="toolbar">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>
          Previous page
        </button>
        <button
          type="button"
          disabled={!data?.hfCatalog.nextCursor}
          onClick={() => data?.hfCatalog.nextCursor && setCursors([...cursors, data.hfCatalog.nextCursor])}
        >
          Next page
        </button>
      </div>
    </section>
  );
}
