//! Identifier helpers: `did:plc` identifiers and CIDv1 strings.

use super::text::mix64;

/// RFC 4648 base32, lowercase: the multibase `b` alphabet used by CIDv1 strings and by
/// `did:plc` identifiers.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The CIDv1 header of a dag-cbor record with a sha2-256 digest: version 1, codec 0x71,
/// multihash 0x12 with length 0x20. Base32 makes it the familiar `bafyrei` prefix.
const DAG_CBOR_SHA256: [u8; 4] = [0x01, 0x71, 0x12, 0x20];

/// Appends `bytes` in unpadded base32.
fn base32(bytes: &[u8], out: &mut String) {
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
}

/// A 256-bit digest of `bytes`: a fast 64-bit hash expanded with SplitMix64. Not
/// cryptographic and not SHA-256 — only distinct inputs should give distinct values.
fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325 ^ (bytes.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut chunks = bytes.chunks_exact(8);
    for chunk in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h ^ u64::from_le_bytes(word)).wrapping_mul(0x0000_0100_0000_01B3).rotate_left(31);
    }
    let mut tail = [0u8; 8];
    tail[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = mix64(h ^ u64::from_le_bytes(tail));
    let mut out = [0u8; 32];
    for (i, lane) in out.chunks_exact_mut(8).enumerate() {
        lane.copy_from_slice(&mix64(h.wrapping_add((i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15))).to_le_bytes());
    }
    out
}

/// A syntactically valid CIDv1 (dag-cbor, sha2-256 layout, base32 `b…`) derived from the
/// record's JSON bytes: `bafyrei` + 52 characters. Same record ⇒ same CID, like real CIDs,
/// but the digest is not the real one.
pub(crate) fn cid_for(record: &[u8]) -> String {
    let mut raw = [0u8; 36];
    raw[..4].copy_from_slice(&DAG_CBOR_SHA256);
    raw[4..].copy_from_slice(&digest(record));
    let mut out = String::with_capacity(59);
    out.push('b');
    base32(&raw, &mut out);
    out
}

/// A `did:plc:` identifier: 24 base32 characters from `next`.
pub(crate) fn plc_did(mut next: impl FnMut() -> u64) -> String {
    let mut out = String::with_capacity(32);
    out.push_str("did:plc:");
    for _ in 0..24 {
        out.push(char::from(BASE32[(next() >> 59) as usize]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cid_has_the_cidv1_shape() {
        let cid = cid_for(br#"{"$type":"x"}"#);
        assert_eq!(cid.len(), 59, "{cid}");
        assert!(cid.starts_with("bafyrei"), "{cid}");
        assert!(cid[7..].bytes().all(|b| BASE32.contains(&b)), "{cid}");
        assert_ne!(cid, cid_for(br#"{"$type":"y"}"#));
        assert_eq!(cid, cid_for(br#"{"$type":"x"}"#));
    }

    #[test]
    fn base32_known_value() {
        let mut out = String::new();
        base32(b"foobar", &mut out);
        assert_eq!(out, "mzxw6ytboi");
    }
}
