// The GraphQL IDE: GraphiQL with schema docs, completion, history, variables and
// headers. Queries go over HTTP; subscriptions over a websocket on the same endpoint,
// with the headers editor's contents (e.g. Authorization) as the connection_init payload.
import 'graphiql/setup-workers/vite';
import 'graphiql/style.css';
import '../page.css';
import './ide.css';

import { createGraphiQLFetcher } from '@graphiql/toolkit';
import { GraphiQL } from 'graphiql';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';

import { graphqlUrl, websocketUrl } from '../endpoint';
import { Nav } from '../nav';
import { exampleTabs } from './examples';

const fetcher = createGraphiQLFetcher({ url: graphqlUrl, subscriptionUrl: websocketUrl });

// A link can open a query: /playground?query=…&variables=…
const params = new URLSearchParams(location.search);
const linked = params.get('query') ?? undefined;
const linkedVariables = params.get('variables') ?? undefined;
const tabs = linked ? [{ query: linked, variables: linkedVariables }] : exampleTabs;

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <div className="page">
      <Nav current="ide" />
      <main className="ide">
        <GraphiQL
          fetcher={fetcher}
          defaultTabs={tabs}
          initialQuery={linked}
          initialVariables={linkedVariables}
        />
      </main>
    </div>
  </StrictMode>,
);
