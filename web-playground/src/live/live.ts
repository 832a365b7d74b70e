// One websocket for the whole page: every live value is a subscription multiplexed on it
// (graphql-transport-ws). It reconnects by itself and re-subscribes, so values resume.
import { createClient } from 'graphql-ws';
import { useEffect, useState, useSyncExternalStore } from 'react';

import { websocketUrl, type GraphQLError } from '../endpoint';

export type SocketStatus = 'connecting' | 'connected' | 'reconnecting';

let status: SocketStatus = 'connecting';
const statusListeners = new Set<() => void>();
const setStatus = (next: SocketStatus) => {
  status = next;
  statusListeners.forEach((listener) => listener());
};

const client = createClient({
  url: websocketUrl,
  lazy: false,
  retryAttempts: Infinity,
  shouldRetry: () => true,
  on: {
    connected: () => setStatus('connected'),
    closed: () => setStatus('reconnecting'),
  },
});

export function useSocketStatus(): SocketStatus {
  return useSyncExternalStore(
    (listener) => {
      statusListeners.add(listener);
      return () => statusListeners.delete(listener);
    },
    () => status,
  );
}

export interface Live<T> {
  value?: T;
  error?: string;
  /** Values received so far (the first is the current value, the rest are changes). */
  received: number;
}

/** Subscribes while mounted; re-subscribes when the variables change. */
export function useLive<T>(query: string, variables: Record<string, unknown>): Live<T> {
  const key = JSON.stringify(variables);
  const [live, setLive] = useState<Live<T>>({ received: 0 });
  useEffect(() => {
    setLive({ received: 0 });
    return client.subscribe<T>(
      { query, variables: JSON.parse(key) as Record<string, unknown> },
      {
        next: (result) => {
          if (result.errors?.length) {
            const error = (result.errors as GraphQLError[]).map((e) => e.message).join('; ');
            setLive((previous) => ({ ...previous, error }));
          } else if (result.data) {
            const value = result.data as T;
            setLive((previous) => ({ value, received: previous.received + 1 }));
          }
        },
        error: (error) => setLive((previous) => ({ ...previous, error: describe(error) })),
        complete: () => {},
      },
    );
  }, [query, key]);
  return live;
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return (error as GraphQLError[]).map((e) => e.message).join('; ');
  if (error instanceof Error) return error.message;
  if (error instanceof CloseEvent) return `the connection closed (${error.code} ${error.reason})`;
  return String(error);
}
