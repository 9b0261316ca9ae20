import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import { createRoot } from 'react-dom/client';

// Served by the control plane at /graphql for browsers: everything from local files, nothing from a CDN.
const http = new URL('graphql', document.baseURI);
const ws = new URL(http);
ws.protocol = http.protocol === 'https:' ? 'wss:' : 'ws:';
const fetcher = createGraphiQLFetcher({ url: http.toString(), subscriptionUrl: ws.toString() });

createRoot(document.getElementById('graphiql')!).render(<GraphiQL fetcher={fetcher} />);
