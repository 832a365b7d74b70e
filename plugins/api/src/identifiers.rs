//! The identifier forms API parameters accept (COVES_API §3), parsed at the boundary.
//!
//! Parsing is syntax only; turning a handle into a DID needs the database (indexed
//! communities, known actors) or the network (unknown actor handles), which the owning
//! plugins do.

use crate::error::ApiError;
use crate::syntax::{Did, Handle};

/// Longest identifier accepted from a request.
const MAX_IDENTIFIER_LEN: usize = 2048;

/// A community named by a request: its DID, or a (lowercase) handle to look up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommunityId {
    /// `did:…`
    Did(Did),
    /// `c-name.instance`, `@c-name.instance`, or `!name@instance` mapped to `c-name.instance`.
    Handle(Handle),
}

/// An actor named by a request: its DID, or a (lowercase) handle to resolve.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ActorId {
    /// `did:plc:…` or `did:web:…`
    Did(Did),
    /// `alice.example.com` or `@alice.example.com`
    Handle(Handle),
}

const COMMUNITY_FORMS: &str =
    "a DID, a handle (c-name.instance or @c-name.instance), or a scoped identifier (!name@instance)";

/// Parses a community identifier (§3.2): DID, `!name@domain` (only for this instance's
/// `domains`), `@handle` or handle. Errors are 400 `InvalidRequest` naming the input.
pub fn parse_community_id(raw: &str, domains: &[String]) -> Result<CommunityId, ApiError> {
    let input = raw.trim();
    if input.is_empty() {
        return Err(ApiError::invalid_request(format!("community identifier is empty; use {COMMUNITY_FORMS}")));
    }
    if input.len() > MAX_IDENTIFIER_LEN {
        return Err(ApiError::invalid_request("community identifier is longer than 2048 characters"));
    }
    if input.starts_with("did:") {
        return Did::new(input).map(CommunityId::Did).map_err(|e| {
            ApiError::invalid_request(format!(
                "community identifier {raw:?} is not a valid DID ({e}); use {COMMUNITY_FORMS}"
            ))
        });
    }
    if let Some(scoped) = input.strip_prefix('!') {
        let Some((name, domain)) = scoped.split_once('@') else {
            return Err(ApiError::invalid_request(format!(
                "community identifier {raw:?}: scoped identifier must include @ symbol (!name@instance)"
            )));
        };
        if name.is_empty() {
            return Err(ApiError::invalid_request(format!(
                "community identifier {raw:?}: community name cannot be empty (!name@instance)"
            )));
        }
        let (name, domain) = (name.to_ascii_lowercase(), domain.to_ascii_lowercase());
        if Handle::new(domain.as_str()).is_err() {
            return Err(ApiError::invalid_request(format!(
                "community identifier {raw:?}: {domain:?} is not a valid instance domain (!name@instance)"
            )));
        }
        if !domains.iter().any(|d| d.eq_ignore_ascii_case(&domain)) {
            let hosted = if domains.is_empty() { "none is configured".to_owned() } else { domains.join(", ") };
            return Err(ApiError::invalid_request(format!(
                "community identifier {raw:?}: communities of {domain} are not hosted on this instance (hosted domains: {hosted}); use the community's DID or handle instead"
            )));
        }
        return Handle::new(format!("c-{name}.{domain}")).map(CommunityId::Handle).map_err(|_| {
            ApiError::invalid_request(format!(
                "community identifier {raw:?}: {name:?} is not a valid community name (letters, digits and hyphens)"
            ))
        });
    }
    let candidate = input.strip_prefix('@').unwrap_or(input);
    if candidate.contains('.')
        && let Ok(handle) = Handle::new(candidate.to_ascii_lowercase())
    {
        return Ok(CommunityId::Handle(handle));
    }
    Err(ApiError::invalid_request(format!("community identifier {raw:?} must be {COMMUNITY_FORMS}")))
}

/// Parses an actor identifier (§3.3): `did:plc:`/`did:web:` DID, handle or `@handle`.
pub fn parse_actor_id(raw: &str) -> Result<ActorId, ApiError> {
    let input = raw.trim();
    let refuse = |why: &str| {
        ApiError::invalid_request(format!(
            "actor {raw:?} {why}: use a DID (did:plc:… or did:web:…) or a handle (alice.example.com or @alice.example.com)"
        ))
    };
    if input.len() > MAX_IDENTIFIER_LEN {
        return Err(refuse("is longer than 2048 characters"));
    }
    if input.starts_with("did:") {
        let did = Did::new(input).map_err(|e| refuse(&format!("is not a valid DID ({e})")))?;
        let plc_ok = did.is_plc()
            && did.identifier().len() == 24
            && did.identifier().bytes().all(|b| matches!(b, b'a'..=b'z' | b'2'..=b'7'));
        return if plc_ok || did.is_web() { Ok(ActorId::Did(did)) } else { Err(refuse("is not a did:plc or did:web")) };
    }
    let candidate = input.strip_prefix('@').unwrap_or(input);
    Handle::new(candidate.to_ascii_lowercase()).map(ActorId::Handle).map_err(|_| refuse("is not a DID or a handle"))
}

/// How clients show a community handle (§3.1): `c-gaming.coves.social` → `!gaming@coves.social`.
/// Handles of another shape are shown as they are.
pub fn display_handle(handle: &str) -> String {
    match handle.strip_prefix("c-").and_then(|rest| rest.split_once('.')) {
        Some((name, domain)) if !name.is_empty() && !domain.is_empty() => format!("!{name}@{domain}"),
        _ => handle.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains() -> Vec<String> {
        vec!["coves.social".to_owned()]
    }

    fn handle(h: &str) -> CommunityId {
        CommunityId::Handle(Handle::new(h).expect("valid handle"))
    }

    #[test]
    fn every_community_form_names_the_same_handle() {
        for raw in
            ["!Gaming@coves.social", "c-gaming.coves.social", "@C-Gaming.Coves.Social", "  !gaming@COVES.social "]
        {
            assert_eq!(parse_community_id(raw, &domains()).expect(raw), handle("c-gaming.coves.social"), "{raw}");
        }
        assert_eq!(
            parse_community_id("did:plc:abc", &domains()).expect("did"),
            CommunityId::Did(Did::new("did:plc:abc").expect("did"))
        );
    }

    #[test]
    fn malformed_community_ids_say_what_is_accepted() {
        let message = |raw: &str| parse_community_id(raw, &domains()).expect_err(raw).message;
        assert!(message("!gaming").contains("must include @ symbol"));
        assert!(message("!@coves.social").contains("community name cannot be empty"));
        assert!(message("!gaming@other.example").contains("not hosted on this instance"));
        assert!(message("gaming").contains("must be a DID, a handle"));
        assert!(message("").contains("empty"));
        assert!(message("did:").contains("not a valid DID"));
        assert_eq!(parse_community_id("gaming", &domains()).expect_err("bad").status, 400);
    }

    #[test]
    fn actor_ids() {
        assert_eq!(
            parse_actor_id("@Alice.Example.com").expect("handle"),
            ActorId::Handle(Handle::new("alice.example.com").expect("valid"))
        );
        assert!(matches!(parse_actor_id("did:plc:ewvi7nxzyoun6zhxrhs64oiz"), Ok(ActorId::Did(_))));
        assert!(matches!(parse_actor_id("did:web:alice.example.com"), Ok(ActorId::Did(_))));
        for bad in ["did:plc:short", "did:key:zabc", "alice", "", "@"] {
            let error = parse_actor_id(bad).expect_err(bad);
            assert!(error.message.contains("use a DID"), "{bad}: {}", error.message);
        }
    }

    #[test]
    fn display_handles() {
        assert_eq!(display_handle("c-gaming.coves.co.uk"), "!gaming@coves.co.uk");
        assert_eq!(display_handle("c-test.dev.coves.social"), "!test@dev.coves.social");
        assert_eq!(display_handle("gaming.community.coves.social"), "gaming.community.coves.social");
        assert_eq!(display_handle("c-.x"), "c-.x");
        assert_eq!(display_handle("c-nodot"), "c-nodot");
    }
}
