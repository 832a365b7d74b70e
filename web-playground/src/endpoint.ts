// The GraphQL endpoint of the server that served this page: queries over HTTP, and
// subscriptions over a websocket on the same path.

export const graphqlUrl = new URL('/graphql', location.href).toString();
export const websocketUrl = graphqlUrl.replace(/^http/, 'ws');

export interface GraphQLError {
  message: string;
  extensions?: { code?: string };
}

/** Runs a query over HTTP; throws with the server's messages when it answers errors. */
export async function request<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(graphqlUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: T; errors?: GraphQLError[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
  if (!response.ok || body.data == null) throw new Error(`the server answered ${response.status}`);
  return body.data;
}
