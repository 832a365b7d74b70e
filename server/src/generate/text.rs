//! Deterministic filler text: names, titles, sentences, bios.
//!
//! Texts are drawn from a small SplitMix64 stream seeded by one `u64`, so a post's title
//! can be regenerated from its seed when the post is updated.

/// A SplitMix64 stream: tiny, fast and fully specified (no dependency on `rand`'s
/// algorithms), used for everything that is derived from a stored seed.
#[derive(Clone, Debug)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix64(self.0)
    }

    /// A value in `0..n` (`n > 0`).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A value in `lo..=hi`.
    pub(crate) fn between(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }

    pub(crate) fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len())]
    }

    pub(crate) fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// The SplitMix64 finalizer: a strong 64-bit mixing function.
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

pub(crate) const FIRST_NAMES: &[&str] = &[
    "alex", "amara", "ana", "ben", "bea", "carlos", "chen", "chloe", "dana", "dev", "eli", "emma", "farah", "felix",
    "gabe", "grace", "hana", "hugo", "ines", "ivan", "jade", "jonas", "kai", "kira", "leo", "lina", "maya", "milo",
    "nadia", "noah", "omar", "olive", "priya", "paul", "quinn", "rosa", "ravi", "sam", "sara", "tariq", "tess", "uma",
    "victor", "vera", "wen", "willa", "xavi", "yara", "yusuf", "zoe",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Rivers",
    "Okafor",
    "Lindqvist",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Kowalski",
    "Nguyen",
    "Brennan",
    "Castillo",
    "Ferreira",
    "Ibrahim",
    "Jensen",
    "Kaur",
    "Larsen",
    "Mendes",
    "Oduya",
    "Petrov",
    "Quist",
    "Rossi",
    "Schmidt",
    "Takahashi",
    "Underwood",
    "Valdez",
    "Whitfield",
    "Yamamoto",
    "Zielinski",
    "Abara",
];

pub(crate) const TOPICS: &[&str] = &[
    "gardening",
    "rustlang",
    "cycling",
    "bookclub",
    "homebrewing",
    "astronomy",
    "woodworking",
    "boardgames",
    "climbing",
    "photography",
    "birding",
    "sourdough",
    "retrogaming",
    "mechkeyboards",
    "urbanism",
    "fountainpens",
    "chess",
    "jazz",
    "linux",
    "hiking",
    "knitting",
    "aquariums",
    "running",
    "coffee",
    "typography",
    "selfhosting",
    "philosophy",
    "languages",
    "trains",
    "mycology",
    "cooking",
    "sewing",
    "sailing",
    "vinyl",
    "houseplants",
    "beekeeping",
    "poetry",
    "drones",
    "robotics",
    "fermentation",
];

const WORDS: &[&str] = &[
    "the",
    "a",
    "this",
    "my",
    "our",
    "every",
    "small",
    "quick",
    "honest",
    "weird",
    "simple",
    "cheap",
    "better",
    "first",
    "last",
    "new",
    "old",
    "seasonal",
    "local",
    "shared",
    "open",
    "slow",
    "careful",
    "practical",
    "guide",
    "question",
    "update",
    "project",
    "setup",
    "mistake",
    "lesson",
    "idea",
    "trick",
    "review",
    "build",
    "plan",
    "story",
    "weekend",
    "morning",
    "community",
    "tool",
    "method",
    "routine",
    "experiment",
    "result",
    "photo",
    "thread",
    "list",
    "works",
    "failed",
    "changed",
    "needs",
    "helps",
    "surprised",
    "learned",
    "tried",
    "finished",
    "started",
    "broke",
    "fixed",
    "recommend",
    "about",
    "with",
    "without",
    "after",
    "before",
    "during",
    "for",
    "from",
    "into",
    "under",
    "over",
    "again",
    "finally",
    "really",
    "mostly",
    "almost",
    "never",
    "always",
    "today",
    "yesterday",
    "soon",
    "budget",
    "beginner",
    "advanced",
    "winter",
    "summer",
    "garden",
    "kitchen",
    "workshop",
    "notes",
    "numbers",
    "weather",
    "friends",
    "neighbours",
    "library",
    "market",
    "trail",
    "station",
    "recipe",
    "patterns",
    "questions",
];

const REACTIONS: &[&str] = &[
    "Great writeup, thanks for sharing.",
    "I had the same problem last year.",
    "Could you post more details?",
    "This is exactly what I needed.",
    "Not sure I agree, but interesting.",
    "Saving this for later.",
    "Has anyone tried the other approach?",
    "Love this community.",
    "Strong disagree, and here is why.",
    "Source?",
    "Following.",
    "Underrated post.",
];

/// `n` words (at least one) from the word list, the first capitalized when `capital`.
fn words(rng: &mut SplitMix, out: &mut String, n: usize, capital: bool) {
    for i in 0..n.max(1) {
        let w = rng.pick(WORDS);
        if i > 0 {
            out.push(' ');
        }
        if i == 0 && capital {
            let mut chars = w.chars();
            if let Some(c) = chars.next() {
                out.extend(c.to_uppercase());
                out.push_str(chars.as_str());
            }
        } else {
            out.push_str(w);
        }
    }
}

/// A sentence of `min..=max` words ending in punctuation.
fn sentence(rng: &mut SplitMix, out: &mut String, min: usize, max: usize) {
    let n = rng.between(min, max);
    words(rng, out, n, true);
    out.push(if rng.chance(15) { '?' } else { '.' });
}

/// A post title (3–10 words).
pub(crate) fn title(seed: u64) -> String {
    let mut rng = SplitMix::new(seed ^ 0x7469_746C_6500_0000);
    let mut out = String::with_capacity(64);
    let n = rng.between(3, 10);
    words(&mut rng, &mut out, n, true);
    out
}

/// A post body (1–5 sentences).
pub(crate) fn post_body(seed: u64) -> String {
    let mut rng = SplitMix::new(seed ^ 0x626F_6479_0000_0000);
    let mut out = String::with_capacity(256);
    for i in 0..rng.between(1, 5) {
        if i > 0 {
            out.push(' ');
        }
        sentence(&mut rng, &mut out, 5, 18);
    }
    out
}

/// The slug of a post's external link.
pub(crate) fn slug(seed: u64) -> String {
    let mut rng = SplitMix::new(seed ^ 0x736C_7567_0000_0000);
    let mut out = String::with_capacity(32);
    for i in 0..rng.between(2, 4) {
        if i > 0 {
            out.push('-');
        }
        out.push_str(rng.pick(WORDS));
    }
    out
}

/// A comment body: a stock reaction and/or 1–3 sentences.
pub(crate) fn comment(seed: u64) -> String {
    let mut rng = SplitMix::new(seed);
    let mut out = String::with_capacity(160);
    if rng.chance(30) {
        out.push_str(rng.pick(REACTIONS));
        if rng.chance(50) {
            return out;
        }
        out.push(' ');
    }
    for i in 0..rng.between(1, 3) {
        if i > 0 {
            out.push(' ');
        }
        sentence(&mut rng, &mut out, 4, 16);
    }
    out
}

/// A profile bio (one sentence).
pub(crate) fn bio(seed: u64) -> String {
    let mut rng = SplitMix::new(seed);
    let mut out = String::with_capacity(96);
    sentence(&mut rng, &mut out, 3, 12);
    out
}

/// An edit note appended to an updated post.
pub(crate) fn edit_note(seed: u64, n: u32) -> String {
    let mut rng = SplitMix::new(seed);
    let mut out = format!("\n\nEdit {n}: ");
    sentence(&mut rng, &mut out, 3, 10);
    out
}

/// A community description.
pub(crate) fn community_description(topic: &str, seed: u64) -> String {
    let mut rng = SplitMix::new(seed);
    let mut out = format!("A community about {topic}. ");
    sentence(&mut rng, &mut out, 4, 12);
    out.push_str(" Be kind, no spam.");
    out
}

/// `word` with its first letter upper-cased.
pub(crate) fn capitalize(word: &str) -> String {
    let mut chars = word.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
