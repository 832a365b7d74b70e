// The GraphQL documents of the live view.

export interface CommunityOption {
  did: string;
  handle: string;
  name: string;
  displayName: string | null;
  displayHandle: string;
}

export const COMMUNITIES = `query Communities {
  communities(sort: POPULAR, first: 100) {
    nodes { did handle name displayName displayHandle }
  }
}`;

/** One community by DID or handle (a link may name one that is not among the listed). */
export const COMMUNITY = `query Community($id: String!) {
  community(id: $id) { did handle name displayName displayHandle }
}`;

export interface HotPost {
  uri: string;
  title: string | null;
  score: number;
  upvotes: number;
  downvotes: number;
  commentCount: number;
  createdAt: string;
  author: { handle: string } | null;
}

export const HOT_POSTS = `query HotPosts($community: String!, $first: Int!) {
  feed(kind: COMMUNITY, community: $community, sort: HOT, first: $first) {
    nodes {
      uri title score upvotes downvotes commentCount createdAt
      author { handle }
    }
  }
}`;

export interface PostStats {
  postStats: { seq: number; score: number; upvotes: number; downvotes: number; commentCount: number };
}

export const POST_STATS = `subscription PostStats($uri: String!) {
  postStats(uri: $uri) { seq score upvotes downvotes commentCount }
}`;

export interface CommunityStats {
  communityStats: { seq: number; subscriberCount: number; postCount: number };
}

export const COMMUNITY_STATS = `subscription CommunityStats($id: String!) {
  communityStats(id: $id) { seq subscriberCount postCount }
}`;
