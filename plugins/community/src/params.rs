//! Query parameters shared by the list methods.

use coves_plugin_api::{ApiError, AppContext, QueryParams};
use serde_json::{Map, Value};

use crate::service::{DEFAULT_LIMIT, MAX_LIMIT, Visibility, clamp_limit};

/// `limit`: 50 when absent, clamped to 1..=100; not an integer → 400.
pub fn limit(params: &QueryParams) -> Result<i64, ApiError> {
    match params.get("limit").map(str::trim) {
        None | Some("") => Ok(DEFAULT_LIMIT),
        Some(raw) => raw.parse::<i64>().map(clamp_limit).map_err(|_| {
            ApiError::invalid_request(format!(
                "limit {raw:?} must be an integer (1 to {MAX_LIMIT}; others are clamped)"
            ))
        }),
    }
}

/// `visibility`: a filter when present; unknown values → 400.
pub fn visibility(params: &QueryParams) -> Result<Option<Visibility>, ApiError> {
    match params.get("visibility").map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) => Visibility::from_param(raw).map(Some).ok_or_else(|| {
            ApiError::invalid_request(format!("visibility {raw:?} must be {}", Visibility::PARAM_VALUES))
        }),
    }
}

/// `cursor`, when present and not blank.
pub fn cursor(params: &QueryParams) -> Option<&str> {
    params.get("cursor").map(str::trim).filter(|c| !c.is_empty())
}

/// The community a write procedure's JSON body names in `community` (a DID, handle or
/// `!name@instance`), resolved to its DID; `None` when absent. 400 `InvalidRequest` for a
/// malformed identifier, 404 `CommunityNotFound` for one naming no readable community.
pub async fn body_community(app: &AppContext, body: &Map<String, Value>) -> Result<Option<String>, ApiError> {
    let raw = match body.get("community") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(raw)) => raw,
        Some(other) => {
            return Err(ApiError::invalid_request(format!(
                "community must be a string (a DID, handle or !name@instance), got {other}"
            )));
        }
    };
    let mut conn = app.conn().await?;
    match crate::resolve_community_param(&mut conn, raw, &app.instance).await? {
        Some(did) => Ok(Some(did)),
        None => Err(ApiError::not_found("CommunityNotFound", format!("community {raw:?} not found"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> QueryParams {
        QueryParams(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect())
    }

    #[test]
    fn limits_are_clamped_and_must_be_integers() {
        assert_eq!(limit(&params(&[])).expect("default"), 50);
        assert_eq!(limit(&params(&[("limit", "500")])).expect("clamped"), 100);
        assert_eq!(limit(&params(&[("limit", "0")])).expect("clamped"), 1);
        assert_eq!(limit(&params(&[("limit", "7"), ("limit", "9")])).expect("first"), 7);
        let error = limit(&params(&[("limit", "ten")])).expect_err("not an integer");
        assert_eq!((error.status, error.name.as_ref()), (400, "InvalidRequest"));
        assert!(limit(&params(&[("limit", "1.5")])).is_err());
    }

    #[test]
    fn visibility_filter() {
        assert_eq!(visibility(&params(&[])).expect("none"), None);
        assert_eq!(visibility(&params(&[("visibility", "unlisted")])).expect("ok"), Some(Visibility::Unlisted));
        let error = visibility(&params(&[("visibility", "secret")])).expect_err("unknown");
        assert!(error.message.contains("public, unlisted or private"), "{}", error.message);
    }
}
