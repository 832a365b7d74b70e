//! Diesel table definitions (mirroring `migrations/actor`).

diesel::table! {
    actors (did) {
        did -> Text,
        handle -> Nullable<Text>,
        display_name -> Nullable<Text>,
        bio -> Nullable<Text>,
        avatar_cid -> Nullable<Text>,
        banner_cid -> Nullable<Text>,
        profile_created_at -> Nullable<Timestamptz>,
        profile_record -> Nullable<Jsonb>,
        profile_cid -> Nullable<Text>,
        profile_rev -> Nullable<Text>,
        first_seen_at -> Timestamptz,
        indexed_at -> Timestamptz,
        pds_endpoint -> Nullable<Text>,
        handle_verified_at -> Nullable<Timestamptz>,
        handle_error -> Nullable<Text>,
        verify_after -> Nullable<Timestamptz>,
        status -> Text,
        status_time_us -> Nullable<BigInt>,
    }
}
