//! Diesel table definitions (mirroring `migrations/community`; the generated `search_text`
//! column is left out: it is only read by the search query).

diesel::table! {
    communities (did) {
        did -> Text,
        handle -> Nullable<Text>,
        name -> Nullable<Text>,
        display_name -> Nullable<Text>,
        description -> Nullable<Text>,
        description_facets -> Nullable<Jsonb>,
        avatar_cid -> Nullable<Text>,
        banner_cid -> Nullable<Text>,
        created_by -> Nullable<Text>,
        hosted_by -> Nullable<Text>,
        visibility -> Text,
        moderation_type -> Text,
        content_warnings -> Array<Text>,
        allow_external_discovery -> Bool,
        created_at -> Nullable<Timestamptz>,
        record -> Nullable<Jsonb>,
        cid -> Nullable<Text>,
        rev -> Text,
        deleted -> Bool,
        pds_endpoint -> Nullable<Text>,
        verified_at -> Nullable<Timestamptz>,
        verify_after -> Nullable<Timestamptz>,
        verify_fresh -> Bool,
        rejected_reason -> Nullable<Text>,
        status -> Text,
        status_time_us -> Nullable<BigInt>,
        subscriber_count -> BigInt,
        post_count -> BigInt,
        member_count -> BigInt,
        indexed_at -> Timestamptz,
    }
}
