//! Language tags (<https://atproto.com/specs/lexicon#language>, RFC 5646 / BCP 47).

/// The RFC 5646 grandfathered tags (irregular and regular), matched case-insensitively.
/// Several do not fit the `langtag` grammar, so they are listed whole.
const GRANDFATHERED: [&str; 26] = [
    "en-GB-oed",
    "i-ami",
    "i-bnn",
    "i-default",
    "i-enochian",
    "i-hak",
    "i-klingon",
    "i-lux",
    "i-mingo",
    "i-navajo",
    "i-pwn",
    "i-tao",
    "i-tay",
    "i-tsu",
    "sgn-BE-FR",
    "sgn-BE-NL",
    "sgn-CH-DE",
    "art-lojban",
    "cel-gaulish",
    "no-bok",
    "no-nyn",
    "zh-guoyu",
    "zh-hakka",
    "zh-min",
    "zh-min-nan",
    "zh-xiang",
];

/// A BCP 47 language tag such as `en`, `pt-BR` or `zh-Hant`.
///
/// Syntax is the RFC 5646 grammar (`language[-extlang][-script][-region][-variant]*
/// [-extension]*[-privateuse]`, a private-use-only `x-...` tag, or a grandfathered tag),
/// plus RFC 5646's validity rule that no variant and no extension singleton appears
/// twice (case-insensitively). Subtags are case-insensitive except that, as in the
/// atproto reference implementation, the primary language subtag must be 2–3 lowercase
/// letters (`JA`, `jaja` are rejected). Subtags are not checked against the IANA registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Language(String);

string_newtype!(Language, "language tag", validate);

impl Language {
    /// The primary language subtag, e.g. `pt` for `pt-BR` (`x` for a private-use tag,
    /// `i` for tags such as `i-navajo`).
    pub fn primary(&self) -> &str {
        self.0.split('-').next().unwrap_or_default()
    }
}

fn is_alpha(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphabetic())
}

fn is_digit(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

fn validate(s: &str) -> Result<(), &'static str> {
    if GRANDFATHERED.iter().any(|g| g.eq_ignore_ascii_case(s)) {
        return Ok(());
    }
    let subtags: Vec<&str> = s.split('-').collect();
    for subtag in &subtags {
        if subtag.is_empty() {
            return Err("empty subtag (leading, trailing or double \"-\")");
        }
        if subtag.len() > 8 || !subtag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err("subtags must be 1-8 ASCII letters or digits");
        }
    }
    let mut rest = subtags.as_slice();

    if let [first, tail @ ..] = rest
        && first.eq_ignore_ascii_case("x")
    {
        return validate_private_use(tail);
    }

    // Primary language: 2-3 lowercase letters (the atproto reference rejects uppercase
    // and the reserved/registered 4-8 letter forms).
    match rest {
        [lang, tail @ ..] if (2..=3).contains(&lang.len()) && lang.bytes().all(|b| b.is_ascii_lowercase()) => {
            rest = tail;
        }
        _ => return Err("primary language subtag must be 2-3 lowercase letters"),
    }
    // Up to three extended language subtags.
    for _ in 0..3 {
        match rest {
            [ext, tail @ ..] if ext.len() == 3 && is_alpha(ext) => rest = tail,
            _ => break,
        }
    }
    // Script.
    if let [script, tail @ ..] = rest
        && script.len() == 4
        && is_alpha(script)
    {
        rest = tail;
    }
    // Region.
    if let [region, tail @ ..] = rest
        && ((region.len() == 2 && is_alpha(region)) || (region.len() == 3 && is_digit(region)))
    {
        rest = tail;
    }
    // Variants: 5-8 alphanumerics, or a digit and 3 alphanumerics; no repeats.
    let mut variants: Vec<String> = Vec::new();
    while let [variant, tail @ ..] = rest {
        let is_variant = (5..=8).contains(&variant.len())
            || (variant.len() == 4 && variant.starts_with(|c: char| c.is_ascii_digit()));
        if !is_variant {
            break;
        }
        let lower = variant.to_ascii_lowercase();
        if variants.contains(&lower) {
            return Err("variant subtag repeated");
        }
        variants.push(lower);
        rest = tail;
    }
    // Extensions: a singleton other than `x`, then one or more 2-8 character subtags; no
    // singleton twice.
    let mut singletons: Vec<u8> = Vec::new();
    while let [singleton, tail @ ..] = rest {
        if singleton.len() != 1 || singleton.eq_ignore_ascii_case("x") {
            break;
        }
        let key = singleton.as_bytes()[0].to_ascii_lowercase();
        if singletons.contains(&key) {
            return Err("extension singleton repeated");
        }
        singletons.push(key);
        let body = tail.iter().take_while(|t| t.len() >= 2).count();
        if body == 0 {
            return Err("extension singleton must be followed by 2-8 character subtags");
        }
        rest = &tail[body..];
    }
    match rest {
        [] => Ok(()),
        [x, tail @ ..] if x.eq_ignore_ascii_case("x") => validate_private_use(tail),
        _ => Err("subtags out of order or malformed"),
    }
}

/// Checks what follows an `x` singleton: one or more 1-8 character subtags (already
/// charset-checked).
fn validate_private_use(tail: &[&str]) -> Result<(), &'static str> {
    if tail.is_empty() {
        return Err("\"x\" must be followed by private-use subtags");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_common_tags() {
        for s in ["en", "pt-BR", "zh-Hant-TW", "es-419", "zh-yue-HK", "I-NAVAJO", "x-whatever"] {
            assert!(Language::new(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn rejects_malformed_tags() {
        for s in ["", "en-", "en--US", "EN", "en-x", "en-a", "en-a-x-foo", "en-toolongsubtag", "de-419-DE"] {
            assert!(Language::new(s).is_err(), "{s}");
        }
    }

    #[test]
    fn primary_and_serde() {
        let lang = Language::new("pt-BR").expect("valid");
        assert_eq!(lang.primary(), "pt");
        let json = serde_json::to_string(&lang).expect("serializes");
        assert_eq!(serde_json::from_str::<Language>(&json).expect("deserializes"), lang);
        let err = serde_json::from_str::<Language>(r#""en-a-x-a-y""#).expect_err("invalid");
        assert!(err.to_string().contains("invalid language tag"), "{err}");
    }
}
