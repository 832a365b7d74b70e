// The live view: a community's hot posts, with scores and comment counts pushed over the
// websocket as votes and comments are indexed. The ranking itself is re-read when the
// community gains or loses a post, and every 30 s.
import '../page.css';
import './live.css';

import { StrictMode, useCallback, useEffect, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';

import { request } from '../endpoint';
import { Nav } from '../nav';
import { useLive, useSocketStatus } from './live';
import {
  COMMUNITIES,
  COMMUNITY,
  COMMUNITY_STATS,
  HOT_POSTS,
  POST_STATS,
  type CommunityOption,
  type CommunityStats,
  type HotPost,
  type PostStats,
} from './queries';

/** Posts shown: well under the server's per-connection subscription cap. */
const SHOWN = 20;
const RERANK_EVERY_MS = 30_000;
/** While the server has nothing yet (a demo that just started), ask again this often. */
const RETRY_EMPTY_MS = 2_000;

function App() {
  const [communities, setCommunities] = useState<CommunityOption[]>([]);
  const [chosen, setChosen] = useState(() => new URLSearchParams(location.search).get('community'));
  const [error, setError] = useState<string>();

  useEffect(() => {
    let timer: number | undefined;
    const load = () =>
      request<{ communities: { nodes: CommunityOption[] } }>(COMMUNITIES)
        .then(async ({ communities }) => {
          const listed = communities.nodes;
          const linked = new URLSearchParams(location.search).get('community');
          if (linked && !listed.some((c) => names(c, linked))) {
            const { community } = await request<{ community: CommunityOption | null }>(COMMUNITY, { id: linked });
            if (community) listed.unshift(community);
          }
          setError(undefined);
          setCommunities(listed);
          if (listed.length === 0) timer = window.setTimeout(load, RETRY_EMPTY_MS);
        })
        .catch((e: Error) => {
          setError(`listing communities: ${e.message}`);
          timer = window.setTimeout(load, RETRY_EMPTY_MS);
        });
    void load();
    return () => window.clearTimeout(timer);
  }, []);

  const choose = (did: string) => {
    setChosen(did);
    const url = new URL(location.href);
    url.searchParams.set('community', did);
    history.replaceState(null, '', url);
  };

  const community = (chosen && communities.find((c) => names(c, chosen))) || communities[0];

  return (
    <div className="page">
      <Nav current="live" />
      <main className="live">
        <div className="toolbar">
          <label>
            Community{' '}
            <select
              data-testid="community-select"
              value={community?.did ?? ''}
              onChange={(event) => choose(event.target.value)}
              disabled={communities.length === 0}
            >
              {communities.map((c) => (
                <option key={c.did} value={c.did}>
                  {c.displayName ?? c.name} ({c.displayHandle})
                </option>
              ))}
            </select>
          </label>
          <SocketBadge />
        </div>
        {error && <p className="error">{error}</p>}
        {community ? (
          <CommunityPanel key={community.did} community={community} />
        ) : (
          <p className="empty">No communities yet: waiting for the stream to index some…</p>
        )}
      </main>
    </div>
  );
}

/** Whether `id` (a DID, handle, @handle or !name@instance) names `community`. */
function names(community: CommunityOption, id: string): boolean {
  return [community.did, community.handle, `@${community.handle}`, community.displayHandle].includes(id);
}

function SocketBadge() {
  const status = useSocketStatus();
  return (
    <span className={`socket ${status}`} data-testid="socket-status">
      {status === 'connected' ? 'live' : status}
    </span>
  );
}

function CommunityPanel({ community }: { community: CommunityOption }) {
  const stats = useLive<CommunityStats>(COMMUNITY_STATS, { id: community.did });
  const [posts, setPosts] = useState<HotPost[]>();
  const [rankedAt, setRankedAt] = useState<Date>();
  const [error, setError] = useState<string>();
  const [changes, setChanges] = useState(0);
  const countChange = useCallback(() => setChanges((n) => n + 1), []);

  const rank = useCallback(
    () =>
      request<{ feed: { nodes: HotPost[] } }>(HOT_POSTS, { community: community.did, first: SHOWN })
        .then(({ feed }) => {
          setError(undefined);
          setPosts(feed.nodes);
          setRankedAt(new Date());
          return feed.nodes.length;
        })
        .catch((e: Error) => {
          setError(`ranking posts: ${e.message}`);
          return 0;
        }),
    [community.did],
  );

  // Re-rank on a timer, sooner while the community has no posts yet.
  useEffect(() => {
    let timer: number | undefined;
    const cycle = () =>
      void rank().then((shown) => {
        timer = window.setTimeout(cycle, shown === 0 ? RETRY_EMPTY_MS : RERANK_EVERY_MS);
      });
    cycle();
    return () => window.clearTimeout(timer);
  }, [rank]);

  // A post arrived or went away: the hot list may have changed.
  const postCount = stats.value?.communityStats.postCount;
  const rankedCount = useRef(postCount);
  useEffect(() => {
    if (postCount === undefined) return;
    if (rankedCount.current !== undefined && rankedCount.current !== postCount) void rank();
    rankedCount.current = postCount;
  }, [postCount, rank]);

  return (
    <section className="community">
      <header>
        <h1>{community.displayName ?? community.name}</h1>
        <span className="handle">{community.displayHandle}</span>
        <dl>
          <Stat label="subscribers" testId="community-subscribers" value={stats.value?.communityStats.subscriberCount} />
          <Stat label="posts" testId="community-posts" value={stats.value?.communityStats.postCount} />
          <Stat label="live changes" testId="change-count" value={changes} />
        </dl>
      </header>
      {(error || stats.error) && <p className="error">{error ?? stats.error}</p>}
      <p className="hint">
        Hot posts{rankedAt && <>, ranked at {rankedAt.toLocaleTimeString()}</>}. Scores and comment counts
        update as votes and comments are indexed.{' '}
        <button type="button" onClick={() => void rank()}>
          Re-rank now
        </button>
      </p>
      {posts === undefined ? (
        <p className="empty">Loading…</p>
      ) : posts.length === 0 ? (
        <p className="empty">No posts in this community yet.</p>
      ) : (
        <ol className="posts">
          {posts.map((post) => (
            <PostRow key={post.uri} post={post} onChange={countChange} />
          ))}
        </ol>
      )}
    </section>
  );
}

function Stat({ label, value, testId }: { label: string; value?: number; testId: string }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value ?? '–'}</dd>
    </div>
  );
}

function PostRow({ post, onChange }: { post: HotPost; onChange: () => void }) {
  const live = useLive<PostStats>(POST_STATS, { uri: post.uri });
  const stats = live.value?.postStats ?? post;
  useEffect(() => {
    if (live.received > 1) onChange();
  }, [live.received, onChange]);

  return (
    <li className="post" data-testid="post-row" data-uri={post.uri}>
      <Count value={stats.score} className="score" testId="post-score" title={`${stats.upvotes} up, ${stats.downvotes} down`} />
      <div className="body">
        <span className="title">{post.title ?? '(untitled)'}</span>
        <span className="meta">
          by {post.author?.handle ?? 'unknown'} · {new Date(post.createdAt).toLocaleString()} ·{' '}
          <Count value={stats.commentCount} testId="post-comments" /> {stats.commentCount === 1 ? 'comment' : 'comments'}
        </span>
        {live.error && <span className="error">{live.error}</span>}
      </div>
    </li>
  );
}

/** A number that flashes each time it changes (remounting replays the animation). */
function Count({ value, className = '', testId, title }: { value: number; className?: string; testId: string; title?: string }) {
  const last = useRef(value);
  const [changes, setChanges] = useState(0);
  useEffect(() => {
    if (last.current !== value) {
      last.current = value;
      setChanges((n) => n + 1);
    }
  }, [value]);
  return (
    <span key={changes} className={`${className}${changes > 0 ? ' bump' : ''}`} data-testid={testId} title={title}>
      {value}
    </span>
  );
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
