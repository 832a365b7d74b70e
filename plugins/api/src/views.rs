//! Served forms of stored records (COVES_API §5.1, §8.1), shared by GraphQL and XRPC so
//! both show the same thing.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::context::InstanceInfo;
use crate::images::{ImagePreset, blob_url};
use crate::syntax::{format_datetime, parse_datetime_lenient};

/// The stored record as served: verbatim, with `$type` set and `createdAt` normalized to
/// UTC with a literal `Z` (clients append `Z` to anything else). An unparseable
/// `createdAt` is replaced by `fallback`, the time the index used for it.
pub fn record_view(record: &Value, collection: &str, fallback: DateTime<Utc>) -> Value {
    let mut record = match record {
        Value::Object(object) => object.clone(),
        _ => Map::new(),
    };
    record.entry("$type").or_insert_with(|| Value::from(collection));
    let created = record.get("createdAt").and_then(Value::as_str).and_then(parse_datetime_lenient).unwrap_or(fallback);
    record.insert("createdAt".into(), format_datetime(&created).into());
    Value::Object(record)
}

/// Who owns an embed's blobs, and where they can be fetched.
pub struct BlobOwner<'a> {
    /// The DID of the repo holding the blobs (a post's community, a comment's author).
    pub did: &'a str,
    /// That repo's PDS, when known.
    pub pds: Option<&'a str>,
    /// The instance (for the image proxy).
    pub instance: &'a InstanceInfo,
}

impl BlobOwner<'_> {
    /// An image's URL: through the image proxy when there is one.
    fn url(&self, blob: &Value, preset: ImagePreset) -> Option<String> {
        blob_url(self.instance, self.pds, self.did, blob_cid(blob)?, preset)
    }

    /// A video's URL: always the owner's PDS (an image proxy does not serve videos).
    fn video_url(&self, blob: &Value) -> Option<String> {
        blob_url(&InstanceInfo::default(), self.pds, self.did, blob_cid(blob)?, ImagePreset::ContentFull)
    }
}

/// The CID of a blob (`{"$type": "blob", "ref": {"$link": cid}, ...}`); anything else is
/// no blob (COVES_API §2.0).
pub fn blob_cid(blob: &Value) -> Option<&str> {
    if blob.get("$type").and_then(Value::as_str) != Some("blob") {
        return None;
    }
    blob.get("ref")?.get("$link")?.as_str().filter(|cid| !cid.is_empty())
}

/// The served form of an embed (COVES_API §5.1): the same `$type` (no `#view` suffix),
/// with blobs turned into absolute URL strings — `external.thumb` becomes a URL, each
/// image gains `thumb` and `fullsize`, a video's `video` and `thumbnail` become URLs.
/// Unknown embed types pass through unchanged.
pub fn embed_view(embed: &Value, owner: &BlobOwner<'_>) -> Value {
    let mut view = embed.clone();
    let kind = embed.get("$type").and_then(Value::as_str).unwrap_or_default();
    match kind {
        "social.coves.embed.external" => {
            if let Some(external) = view.get_mut("external").and_then(Value::as_object_mut) {
                replace_blob(external, "thumb", |b| owner.url(b, ImagePreset::EmbedThumbnail));
            }
        }
        "social.coves.embed.images" => {
            for image in view.get_mut("images").and_then(Value::as_array_mut).into_iter().flatten() {
                let Some(image) = image.as_object_mut() else { continue };
                let Some(blob) = image.get("image").cloned() else { continue };
                for (key, preset) in [("thumb", ImagePreset::ContentPreview), ("fullsize", ImagePreset::ContentFull)] {
                    if let Some(url) = owner.url(&blob, preset) {
                        image.insert(key.into(), url.into());
                    }
                }
            }
        }
        "social.coves.embed.video" => {
            if let Some(video) = view.as_object_mut() {
                replace_blob(video, "video", |b| owner.video_url(b));
                replace_blob(video, "thumbnail", |b| owner.url(b, ImagePreset::ContentPreview));
            }
        }
        _ => {}
    }
    view
}

/// Replaces the blob at `key` by its URL; drops it when no URL can be made (a view field
/// is a URL or absent, never a blob).
fn replace_blob(object: &mut Map<String, Value>, key: &str, url: impl Fn(&Value) -> Option<String>) {
    let Some(blob) = object.get(key) else { return };
    match url(blob) {
        Some(url) => {
            object.insert(key.into(), url.into());
        }
        None => {
            object.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn blob(cid: &str) -> Value {
        json!({"$type": "blob", "ref": {"$link": cid}, "mimeType": "image/jpeg", "size": 1000})
    }

    fn owner(instance: &InstanceInfo) -> BlobOwner<'_> {
        BlobOwner { did: "did:plc:community", pds: Some("https://pds.example.com"), instance }
    }

    #[test]
    fn record_created_at_ends_in_z() {
        let fallback = DateTime::from_timestamp(1_700_000_000, 0).expect("valid");
        let record = json!({"title": "x", "createdAt": "2026-01-01T13:00:00+01:00", "extra": 1});
        let view = record_view(&record, "social.coves.community.post", fallback);
        assert_eq!(
            view,
            json!({"$type": "social.coves.community.post", "title": "x", "createdAt": "2026-01-01T12:00:00.000Z", "extra": 1})
        );
        let broken = record_view(&json!({"createdAt": "yesterday"}), "c", fallback);
        assert_eq!(broken["createdAt"], "2023-11-14T22:13:20.000Z");
    }

    #[test]
    fn blobs_become_urls() {
        let instance = InstanceInfo::default();
        let images = json!({"$type": "social.coves.embed.images", "images": [{"image": blob("bafyimg"), "alt": "a"}]});
        let view = embed_view(&images, &owner(&instance));
        let url = "https://pds.example.com/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Acommunity&cid=bafyimg";
        assert_eq!(view["images"][0]["thumb"], url);
        assert_eq!(view["images"][0]["fullsize"], url);
        assert_eq!(view["images"][0]["alt"], "a");
        assert_eq!(view["$type"], "social.coves.embed.images");

        let proxied = InstanceInfo { image_proxy_url: Some("https://img.example.com/".into()), ..Default::default() };
        let external = json!({"$type": "social.coves.embed.external", "external": {"uri": "https://x.example", "thumb": blob("bafythumb")}});
        assert_eq!(
            embed_view(&external, &owner(&proxied))["external"]["thumb"],
            "https://img.example.com/img/embed_thumbnail/plain/did:plc:community/bafythumb"
        );

        let video =
            json!({"$type": "social.coves.embed.video", "video": blob("bafyvid"), "thumbnail": {"ref": "not a blob"}});
        let view = embed_view(&video, &owner(&proxied));
        assert_eq!(
            view["video"],
            "https://pds.example.com/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Acommunity&cid=bafyvid"
        );
        assert!(view.get("thumbnail").is_none(), "{view}");

        let unknown = json!({"$type": "app.example.embed", "blob": blob("x")});
        assert_eq!(embed_view(&unknown, &owner(&instance)), unknown);
    }
}
