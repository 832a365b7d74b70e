// The tabs a first visit opens with: a query, a live subscription, and a signed-in feed.

export const exampleTabs = [
  {
    query: `# The Coves AppView's GraphQL API. Run: Ctrl-Enter or ▶.
# Complete: Ctrl-Space. Schema: the book icon on the left.
query HotPosts {
  appview { version }
  posts(sort: HOT, first: 5) {
    nodes {
      uri
      title
      score
      commentCount
      author { handle }
      community { name subscriberCount }
    }
  }
}
`,
  },
  {
    query: `# Live counts come over a websocket on /graphql: the current
# value, then each change. Put a post URI from the first tab in
# the variables below and run; ■ stops the subscription.
subscription PostStats($uri: String!) {
  postStats(uri: $uri) {
    seq
    changedAt
    score
    upvotes
    downvotes
    commentCount
  }
}
`,
    variables: '{\n  "uri": "at://did:plc:…/social.coves.community.post/…"\n}\n',
  },
  {
    query: `# A signed-in viewer's timeline: put a service-auth token
# (audience: this AppView's DID) in the headers below.
# Subscriptions send these headers in connection_init.
query Timeline {
  feed(kind: TIMELINE, sort: HOT, first: 10) {
    nodes { title score viewerVote { direction } community { name viewerSubscription { contentVisibility } } }
  }
}
`,
    headers: '{\n  "Authorization": "Bearer <service-auth token>"\n}\n',
  },
];
