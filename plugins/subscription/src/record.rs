//! Reading the `contentVisibility` of a `social.coves.community.subscription` record; the
//! subject and createdAt are read by `coves_plugin_api::community_relation`.

use serde_json::Value;

/// `contentVisibility` when the record has none (or not an integer).
pub const DEFAULT_VISIBILITY: i16 = 3;

/// A record's `contentVisibility` (COVES_API §2.2): an integer clamped to 1..=5; missing or
/// not an integer (a string, a fraction) reads as 3.
pub fn clamp_visibility(raw: Option<&Value>) -> i16 {
    // An integer beyond i64 (only u64 is) is above 5.
    match raw.and_then(|v| v.as_i64().or_else(|| v.as_u64().map(|_| i64::MAX))) {
        // Clamped first, so the conversion cannot fail.
        Some(level) => i16::try_from(level.clamp(1, 5)).unwrap_or(DEFAULT_VISIBILITY),
        None => DEFAULT_VISIBILITY,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn visibility_is_clamped_to_one_to_five_and_defaults_to_three() {
        let cases = [
            (Some(json!(1)), 1),
            (Some(json!(4)), 4),
            (Some(json!(0)), 1),
            (Some(json!(-7)), 1),
            (Some(json!(9)), 5),
            (Some(json!(i64::MAX)), 5),
            (Some(json!(u64::MAX)), 5),
            (None, 3),
            (Some(json!("high")), 3),
            (Some(json!("4")), 3),
            (Some(json!(2.5)), 3),
            (Some(json!(null)), 3),
        ];
        for (raw, expected) in cases {
            assert_eq!(clamp_visibility(raw.as_ref()), expected, "{raw:?}");
        }
    }
}
