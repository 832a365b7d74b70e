//! Signing keys from DID documents (multikeys) and the signature check atproto requires.

use atrium_crypto::Algorithm;
use atrium_crypto::multibase::{self, Base};
use atrium_crypto::verify::Verifier;

/// The JWS algorithms atproto signs service tokens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwsAlg {
    /// ECDSA over NIST P-256 with SHA-256.
    Es256,
    /// ECDSA over secp256k1 with SHA-256.
    Es256k,
}

impl JwsAlg {
    /// The algorithm a JWS header names; `None` for anything else (`none`, `HS256`, `RS256`, `es256`…).
    pub fn from_header(alg: &str) -> Option<Self> {
        match alg {
            "ES256" => Some(Self::Es256),
            "ES256K" => Some(Self::Es256k),
            _ => None,
        }
    }

    /// Its name in a JWS header.
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::Es256k => "ES256K",
        }
    }
}

/// A P-256 or secp256k1 public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    algorithm: Algorithm,
    /// SEC1-encoded (uncompressed) point.
    sec1: Vec<u8>,
}

/// Why a key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not a base58btc multibase string (`z…`).
    #[error("the key is not a base58btc multikey (`z…`)")]
    NotMultibase,
    /// A multicodec other than P-256 and secp256k1 public keys.
    #[error("the key type is not supported (atproto uses P-256 or secp256k1)")]
    UnsupportedType,
    /// The bytes are not a point on the curve.
    #[error("the key is not a valid {0} public key")]
    InvalidPoint(&'static str),
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// Not 64 bytes of `r || s` (e.g. DER-encoded).
    #[error("the signature is not a 64-byte r||s value")]
    Encoding,
    /// High-S (malleable) signatures are invalid in atproto.
    #[error("the signature has a high S value, which atproto does not accept")]
    HighS,
    /// It does not verify.
    #[error("the signature does not match")]
    Mismatch,
}

impl PublicKey {
    /// Reads a multikey: base58btc multibase of a multicodec-prefixed compressed point, as in
    /// a DID document's `publicKeyMultibase` and after `did:key:`.
    pub fn from_multikey(multikey: &str) -> Result<Self, KeyError> {
        if !multikey.starts_with('z') {
            return Err(KeyError::NotMultibase);
        }
        let (base, bytes) = multibase::decode(multikey).map_err(|_| KeyError::NotMultibase)?;
        // atrium-crypto indexes the first two bytes without checking the length.
        if base != Base::Base58Btc || bytes.len() < 2 {
            return Err(KeyError::NotMultibase);
        }
        let algorithm = match bytes[..2] {
            [0x80, 0x24] => Algorithm::P256,
            [0xe7, 0x01] => Algorithm::Secp256k1,
            _ => return Err(KeyError::UnsupportedType),
        };
        let (parsed, sec1) =
            atrium_crypto::did::parse_multikey(multikey).map_err(|_| KeyError::InvalidPoint(curve_name(algorithm)))?;
        debug_assert_eq!(parsed, algorithm);
        Ok(Self { algorithm, sec1 })
    }

    /// Reads a `did:key:` identifier.
    pub fn from_did_key(did_key: &str) -> Result<Self, KeyError> {
        Self::from_multikey(did_key.strip_prefix("did:key:").ok_or(KeyError::NotMultibase)?)
    }

    /// The JWS algorithm that signs with this kind of key.
    pub fn jws_alg(&self) -> JwsAlg {
        match self.algorithm {
            Algorithm::P256 => JwsAlg::Es256,
            Algorithm::Secp256k1 => JwsAlg::Es256k,
        }
    }

    /// The curve's name, for messages.
    pub fn curve(&self) -> &'static str {
        curve_name(self.algorithm)
    }

    /// The key as a `did:key:` identifier (compressed multikey).
    pub fn did_key(&self) -> String {
        // The point was validated when the key was read, so formatting cannot fail.
        atrium_crypto::did::format_did_key(self.algorithm, &self.sec1).unwrap_or_default()
    }

    /// Checks an atproto signature over `message`: exactly 64 bytes of `r || s`, low-S only
    /// (DER and high-S signatures are refused), SHA-256 of the message.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> Result<(), SignatureError> {
        if signature.len() != 64 {
            return Err(SignatureError::Encoding);
        }
        Verifier::default().verify(self.algorithm, &self.sec1, message, signature).map_err(|e| match e {
            atrium_crypto::Error::LowSSignatureNotAllowed => SignatureError::HighS,
            _ => SignatureError::Mismatch,
        })
    }
}

fn curve_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::P256 => "P-256",
        Algorithm::Secp256k1 => "secp256k1",
    }
}

#[cfg(test)]
mod tests {
    //! The atproto interop vectors (`testdata/atproto-interop/crypto/`), run through the
    //! functions the token verifier uses.

    use atrium_crypto::keypair::{Did as _, P256Keypair, Secp256k1Keypair};
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD_NO_PAD;
    use serde_json::Value;

    use super::*;

    fn vectors(file: &str) -> Vec<Value> {
        let path = format!("{}/../testdata/atproto-interop/crypto/{file}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).expect("interop vectors are present");
        let value: Value = serde_json::from_str(&text).expect("vectors are JSON");
        let items = value.as_array().expect("a JSON array").clone();
        assert!(!items.is_empty(), "{file} has vectors");
        items
    }

    fn field<'a>(vector: &'a Value, name: &str) -> &'a str {
        vector[name].as_str().expect("string field")
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
    }

    #[test]
    fn signature_fixtures() {
        let all = vectors("signature-fixtures.json");
        for vector in &all {
            let comment = field(vector, "comment");
            let message = STANDARD_NO_PAD.decode(field(vector, "messageBase64")).expect("message");
            let signature = STANDARD_NO_PAD.decode(field(vector, "signatureBase64")).expect("signature");
            let key = PublicKey::from_did_key(field(vector, "publicKeyDid")).expect("did:key parses");
            assert_eq!(key.jws_alg().name(), field(vector, "algorithm"), "{comment}");
            let valid = vector["validSignature"].as_bool().expect("validSignature");
            let result = key.verify(&message, &signature);
            assert_eq!(result.is_ok(), valid, "{comment}: {result:?}");
            let tags: Vec<&str> = vector["tags"].as_array().expect("tags").iter().filter_map(Value::as_str).collect();
            if tags.contains(&"high-s") {
                assert_eq!(result, Err(SignatureError::HighS), "{comment}");
            }
            if tags.contains(&"der-encoded") {
                assert_eq!(result, Err(SignatureError::Encoding), "{comment}");
            }
        }
        assert!(all.iter().any(|v| v["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "high-s"))));
        assert!(all.iter().any(|v| v["tags"].as_array().is_some_and(|t| t.iter().any(|t| t == "der-encoded"))));
    }

    #[test]
    fn k256_did_keys() {
        for vector in vectors("w3c_didkey_K256.json") {
            let private = hex(field(&vector, "privateKeyBytesHex"));
            let did_key = field(&vector, "publicDidKey");
            let keypair = Secp256k1Keypair::import(&private).expect("private key");
            assert_eq!(keypair.did(), did_key);
            let key = PublicKey::from_did_key(did_key).expect("did:key parses");
            assert_eq!(key.jws_alg(), JwsAlg::Es256k);
            assert_eq!(key.did_key(), did_key);
            let signature = keypair.sign(b"hello").expect("signs");
            assert_eq!(key.verify(b"hello", &signature), Ok(()));
            assert_eq!(key.verify(b"hellO", &signature), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn p256_did_keys() {
        for vector in vectors("w3c_didkey_P256.json") {
            let private = Base::Base58Btc.decode(field(&vector, "privateKeyBytesBase58")).expect("base58");
            let did_key = field(&vector, "publicDidKey");
            let keypair = P256Keypair::import(&private).expect("private key");
            assert_eq!(keypair.did(), did_key);
            let key = PublicKey::from_did_key(did_key).expect("did:key parses");
            assert_eq!(key.jws_alg(), JwsAlg::Es256);
            assert_eq!(key.did_key(), did_key);
            let signature = keypair.sign(b"hello").expect("signs");
            assert_eq!(key.verify(b"hello", &signature), Ok(()));
            assert_eq!(key.verify(b"hellO", &signature), Err(SignatureError::Mismatch));
        }
    }

    #[test]
    fn malformed_multikeys_are_errors_not_panics() {
        for bad in ["", "z", "z1", "zQ3", "f0102", "mAAA", "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme"]
        {
            assert!(PublicKey::from_multikey(bad).is_err(), "{bad:?}");
        }
        // The legacy (pre-multikey) encoding in the fixtures' publicKeyMultibase has no
        // multicodec prefix.
        assert!(PublicKey::from_multikey("zxdM8dSstjrpZaRUwBmDvjGXweKuEMVN95A9oJBFjkWMh").is_err());
        // An Ed25519 multikey.
        assert_eq!(
            PublicKey::from_multikey("z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"),
            Err(KeyError::UnsupportedType)
        );
    }
}
