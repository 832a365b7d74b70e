//! Diesel table definitions (mirroring `migrations/comment`; the generated `sort_at`
//! column is left out: SQL reads it by name).

diesel::table! {
    comments (uri) {
        uri -> Text,
        commenter_did -> Text,
        rkey -> Text,
        cid -> Nullable<Text>,
        rev -> Text,
        record -> Nullable<Jsonb>,
        root_uri -> Nullable<Text>,
        root_cid -> Nullable<Text>,
        parent_uri -> Nullable<Text>,
        parent_cid -> Nullable<Text>,
        content -> Nullable<Text>,
        facets -> Nullable<Jsonb>,
        embed -> Nullable<Jsonb>,
        langs -> Array<Text>,
        labels -> Nullable<Jsonb>,
        created_at -> Nullable<Timestamptz>,
        indexed_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        deleted -> Bool,
        deleted_at -> Nullable<Timestamptz>,
        deletion_reason -> Nullable<Text>,
    }
}

diesel::table! {
    comment_counts (subject_uri) {
        subject_uri -> Text,
        reply_count -> Integer,
        thread_count -> Integer,
    }
}

diesel::allow_tables_to_appear_in_same_query!(comments, comment_counts);
