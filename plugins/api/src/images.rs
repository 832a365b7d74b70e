//! Absolute image URLs for blobs (COVES_API §5.6).
//!
//! Clients only show absolute http(s) URLs. With an image proxy configured the URL names
//! a preset the proxy renders; otherwise it points at the blob on the owner's PDS.

use crate::context::InstanceInfo;

/// The size/quality variants an image proxy serves (`{base}/img/{preset}/plain/{did}/{cid}`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImagePreset {
    /// A profile picture.
    Avatar,
    /// A small profile picture (lists, post references).
    AvatarSmall,
    /// A profile or community banner.
    Banner,
    /// An image in a feed item.
    ContentPreview,
    /// An image at full size.
    ContentFull,
    /// A link preview thumbnail.
    EmbedThumbnail,
}

impl ImagePreset {
    /// The preset's path segment.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Avatar => "avatar",
            Self::AvatarSmall => "avatar_small",
            Self::Banner => "banner",
            Self::ContentPreview => "content_preview",
            Self::ContentFull => "content_full",
            Self::EmbedThumbnail => "embed_thumbnail",
        }
    }
}

/// The URL of blob `cid` owned by `did`: through the image proxy when one is configured,
/// else `getBlob` on the owner's PDS. `None` when neither is known (no absolute URL can
/// be made, so the field is omitted).
pub fn blob_url(
    instance: &InstanceInfo,
    pds: Option<&str>,
    did: &str,
    cid: &str,
    preset: ImagePreset,
) -> Option<String> {
    if let Some(base) = &instance.image_proxy_url {
        return Some(format!("{}/img/{}/plain/{did}/{cid}", base.trim_end_matches('/'), preset.as_str()));
    }
    let pds = pds?.trim_end_matches('/');
    let query: String =
        url::form_urlencoded::Serializer::new(String::new()).append_pair("did", did).append_pair("cid", cid).finish();
    Some(format!("{pds}/xrpc/com.atproto.sync.getBlob?{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_first_then_pds() {
        let mut instance = InstanceInfo::default();
        let did = "did:plc:ewvi7nxzyoun6zhxrhs64oiz";
        assert_eq!(
            blob_url(&instance, Some("https://pds.example.com/"), did, "bafkrei1", ImagePreset::Avatar).as_deref(),
            Some(
                "https://pds.example.com/xrpc/com.atproto.sync.getBlob?did=did%3Aplc%3Aewvi7nxzyoun6zhxrhs64oiz&cid=bafkrei1"
            )
        );
        assert_eq!(blob_url(&instance, None, did, "bafkrei1", ImagePreset::Avatar), None);
        instance.image_proxy_url = Some("https://img.coves.social/".into());
        assert_eq!(
            blob_url(&instance, None, did, "bafkrei1", ImagePreset::AvatarSmall).as_deref(),
            Some("https://img.coves.social/img/avatar_small/plain/did:plc:ewvi7nxzyoun6zhxrhs64oiz/bafkrei1")
        );
    }
}
