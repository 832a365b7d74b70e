//! Compact JWS parsing for service-auth tokens: three base64url parts, a JSON header and
//! JSON claims. Nothing here checks the signature or the claims' values.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::TokenError;
use super::keys::JwsAlg;

/// The largest token read (atproto service tokens are a few hundred bytes).
const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A parsed but unverified token.
#[derive(Debug)]
pub struct UnverifiedToken<'a> {
    /// `base64url(header) "." base64url(payload)`: the bytes the signature covers.
    pub signing_input: &'a str,
    /// The header's `alg`.
    pub alg: JwsAlg,
    /// The claims the verifier checks.
    pub claims: Claims,
    /// The decoded signature (not yet checked for length or value).
    pub signature: Vec<u8>,
}

/// The registered claims atproto service tokens use.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Claims {
    /// Issuer: the signer's DID, possibly with a `#service` fragment.
    pub iss: String,
    /// Audience: the DID of the service the token is for.
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: Option<i64>,
    /// Issued at.
    pub iat: Option<i64>,
    /// Not before.
    pub nbf: Option<i64>,
    /// Lexicon method: the only XRPC method the token may call.
    pub lxm: Option<String>,
}

/// Splits and decodes a compact JWS. Refuses unsupported algorithms (including `none`)
/// before looking at the payload.
pub fn parse(token: &str) -> Result<UnverifiedToken<'_>, TokenError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed(format!("it is longer than {MAX_TOKEN_BYTES} bytes")));
    }
    let Some((signing_input, signature)) = token.rsplit_once('.') else {
        return Err(malformed("a JWT has three dot-separated parts"));
    };
    let Some((header, payload)) = signing_input.split_once('.').filter(|(_, payload)| !payload.contains('.')) else {
        return Err(malformed("a JWT has three dot-separated parts"));
    };
    let header = object(header, "header")?;
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => {
            JwsAlg::from_header(alg).ok_or_else(|| TokenError::UnsupportedAlg(alg.chars().take(32).collect()))?
        }
        Some(_) => return Err(TokenError::UnsupportedAlg("(not a string)".into())),
        None => return Err(TokenError::UnsupportedAlg("(missing)".into())),
    };
    match header.get("typ") {
        None => {}
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("JWT") => {}
        Some(other) => return Err(malformed(format!("the header's typ is {other}, not \"JWT\""))),
    }
    if header.contains_key("crit") {
        return Err(malformed("the header lists critical extensions (crit), which are not supported"));
    }
    let claims = claims(&object(payload, "payload")?)?;
    let signature = decode(signature, "signature")?;
    Ok(UnverifiedToken { signing_input, alg, claims, signature })
}

fn decode(part: &str, what: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD.decode(part).map_err(|_| malformed(format!("the {what} is not unpadded base64url")))
}

fn object(part: &str, what: &str) -> Result<Map<String, Value>, TokenError> {
    match serde_json::from_slice(&decode(part, what)?) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(malformed(format!("the {what} is not a JSON object"))),
    }
}

fn claims(payload: &Map<String, Value>) -> Result<Claims, TokenError> {
    let string = |name: &str| match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(malformed(format!("the {name} claim is not a string"))),
    };
    let time = |name: &str| match payload.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)) {
            Some(seconds) => Ok(Some(seconds)),
            None => Err(malformed(format!("the {name} claim is not a number of seconds"))),
        },
        Some(_) => Err(malformed(format!("the {name} claim is not a number of seconds"))),
    };
    Ok(Claims {
        iss: string("iss")?.ok_or_else(|| malformed("the iss claim (the viewer's DID) is missing"))?,
        aud: string("aud")?.ok_or_else(|| malformed("the aud claim (this service's DID) is missing"))?,
        exp: time("exp")?,
        iat: time("iat")?,
        nbf: time("nbf")?,
        lxm: string("lxm")?,
    })
}

fn malformed(reason: impl Into<String>) -> TokenError {
    TokenError::Malformed(reason.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("JSON"))
    }

    fn token(header: &Value, claims: &Value, signature: &str) -> String {
        format!("{}.{}.{signature}", b64(header), b64(claims))
    }

    fn claims() -> Value {
        serde_json::json!({"iss": "did:plc:abc", "aud": "did:web:appview.test", "exp": 1_900_000_000, "lxm": "a.b.c"})
    }

    #[test]
    fn reads_header_claims_and_signature() {
        let raw = token(&serde_json::json!({"alg": "ES256K", "typ": "JWT"}), &claims(), "AQID");
        let parsed = parse(&raw).expect("parses");
        assert_eq!(parsed.alg, JwsAlg::Es256k);
        assert_eq!(parsed.signature, vec![1, 2, 3]);
        assert_eq!(format!("{}.AQID", parsed.signing_input), raw);
        assert_eq!(parsed.claims.iss, "did:plc:abc");
        assert_eq!(parsed.claims.exp, Some(1_900_000_000));
        assert_eq!(parsed.claims.lxm.as_deref(), Some("a.b.c"));
        assert_eq!(parsed.claims.iat, None);
    }

    #[test]
    fn refuses_other_algorithms() {
        for header in [
            serde_json::json!({"alg": "none"}),
            serde_json::json!({"alg": "HS256"}),
            serde_json::json!({"alg": "es256"}),
            serde_json::json!({"alg": "RS256"}),
            serde_json::json!({"typ": "JWT"}),
            serde_json::json!({"alg": 7}),
        ] {
            let err = parse(&token(&header, &claims(), "")).expect_err("refused");
            assert!(matches!(err, TokenError::UnsupportedAlg(_)), "{header}: {err}");
        }
    }

    #[test]
    fn refuses_malformed_tokens() {
        let header = serde_json::json!({"alg": "ES256"});
        let good = token(&header, &claims(), "AQID");
        let padded = format!("{}=.{}.AQID", b64(&header), b64(&claims()));
        let standard_alphabet = format!("{}.{}.AQ+/", b64(&header), b64(&claims()));
        for bad in [
            "",
            "abc",
            "a.b",
            &format!("{good}.extra"),
            &padded,
            &standard_alphabet,
            &token(&serde_json::json!({"alg": "ES256", "typ": "at+jwt"}), &claims(), "AQID"),
            &token(&serde_json::json!({"alg": "ES256", "crit": ["b64"]}), &claims(), "AQID"),
            &token(&header, &serde_json::json!({"aud": "did:web:x", "exp": 1}), "AQID"),
            &token(&header, &serde_json::json!({"iss": 5, "aud": "did:web:x"}), "AQID"),
            &token(&header, &serde_json::json!({"iss": "did:plc:a", "aud": ["did:web:x"]}), "AQID"),
            &token(&header, &serde_json::json!({"iss": "did:plc:a", "aud": "did:web:x", "exp": "soon"}), "AQID"),
            &token(&header, &serde_json::json!(["not", "an", "object"]), "AQID"),
            &"A".repeat(MAX_TOKEN_BYTES + 1),
        ] {
            let err = parse(bad).expect_err("malformed");
            assert!(matches!(err, TokenError::Malformed(_)), "{bad}: {err}");
        }
    }
}
