//! Authentication and signing of one attempt: Basic, bearer, a custom
//! header carrying a secret, HMAC-SHA256 of the body (hex), and Standard
//! Webhooks (`webhook-id`, `webhook-timestamp`, `webhook-signature`).
//!
//! Pure functions over secrets already resolved from the configuration;
//! they run at every attempt, so a rotated secret or a new timestamp is
//! picked up by the next retry. Nothing here logs, and no error message
//! carries a secret.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header of [`Auth::HmacSha256`] when the configuration names none
/// (seed 004).
pub const DEFAULT_HMAC_HEADER: &str = "X-Webhook-Signature";

/// The Standard Webhooks secret prefix.
const WHSEC_PREFIX: &str = "whsec_";

/// One authentication or signing scheme with its secrets resolved.
///
/// A service may list several; each contributes its own headers.
#[derive(Clone, PartialEq, Eq)]
pub enum Auth {
    /// `Authorization: Basic base64(username:password)`.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`.
    Bearer { token: String },
    /// A header of the operator's choice carrying a secret, e.g.
    /// `X-Webhook-Token` (seed 004).
    Header { name: String, value: String },
    /// Lowercase hex HMAC-SHA256 of the exact body bytes in `header`.
    HmacSha256 { header: String, secret: String },
    /// Standard Webhooks. `secrets` holds the current secret first and,
    /// during a rotation, its successor: one `v1,` signature is sent per
    /// secret, space-separated, so receivers holding either key verify.
    StandardWebhooks { secrets: Vec<String> },
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username}, <masked>)"),
            Auth::Bearer { .. } => f.write_str("Bearer(<masked>)"),
            Auth::Header { name, .. } => write!(f, "Header({name}: <masked>)"),
            Auth::HmacSha256 { header, .. } => write!(f, "HmacSha256({header})"),
            Auth::StandardWebhooks { secrets } => {
                write!(f, "StandardWebhooks({} secret(s))", secrets.len())
            }
        }
    }
}

/// What a signature covers for one attempt.
#[derive(Debug, Clone, Copy)]
pub struct SignInput<'a> {
    /// The delivery key: stable across retries (`webhook-id`,
    /// `Idempotency-Key`); not the queue row id.
    pub delivery_key: &'a str,
    /// Unix seconds of this attempt.
    pub timestamp: i64,
    /// The exact bytes that will be sent.
    pub body: &'a [u8],
}

/// Why an attempt cannot be signed. Permanent: retrying does not help until
/// the configuration changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    #[error("Standard Webhooks secret #{index} is not base64 after the optional whsec_ prefix")]
    WebhookSecret { index: usize },
    #[error("Standard Webhooks auth has no secret")]
    NoWebhookSecret,
    #[error("Basic auth username contains ':', which the scheme cannot carry")]
    BasicUsername,
    #[error("the value for header {header} contains a control character (CR, LF or NUL)")]
    HeaderValue { header: String },
    #[error("{header:?} is not a valid header name")]
    HeaderName { header: String },
}

/// The headers all of `auths` add to one attempt, in order.
pub fn auth_headers(
    auths: &[Auth],
    input: SignInput<'_>,
) -> Result<Vec<(String, String)>, SignError> {
    let mut headers = Vec::new();
    for auth in auths {
        match auth {
            Auth::Basic { username, password } => {
                headers.push(("Authorization".into(), basic(username, password)?));
            }
            Auth::Bearer { token } => {
                headers.push(("Authorization".into(), format!("Bearer {token}")));
            }
            Auth::Header { name, value } => headers.push((name.clone(), value.clone())),
            Auth::HmacSha256 { header, secret } => {
                headers.push((
                    header.clone(),
                    hmac_sha256_hex(secret.as_bytes(), input.body),
                ));
            }
            Auth::StandardWebhooks { secrets } => {
                let keys = secrets
                    .iter()
                    .enumerate()
                    .map(|(index, s)| {
                        webhook_key(s).map_err(|_| SignError::WebhookSecret { index })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if keys.is_empty() {
                    return Err(SignError::NoWebhookSecret);
                }
                headers.push(("webhook-id".into(), input.delivery_key.to_string()));
                headers.push(("webhook-timestamp".into(), input.timestamp.to_string()));
                headers.push((
                    "webhook-signature".into(),
                    standard_webhooks_signature(
                        &keys,
                        input.delivery_key,
                        input.timestamp,
                        input.body,
                    ),
                ));
            }
        }
    }
    for (name, value) in &headers {
        check_header(name, value).map_err(|e| match e {
            HeaderProblem::Name => SignError::HeaderName {
                header: name.clone(),
            },
            HeaderProblem::Value => SignError::HeaderValue {
                header: name.clone(),
            },
        })?;
    }
    Ok(headers)
}

/// `Basic base64(username:password)` (RFC 7617).
pub fn basic(username: &str, password: &str) -> Result<String, SignError> {
    if username.contains(':') {
        return Err(SignError::BasicUsername);
    }
    Ok(format!(
        "Basic {}",
        BASE64.encode(format!("{username}:{password}"))
    ))
}

/// Lowercase hex HMAC-SHA256 of `message` under `key`.
pub fn hmac_sha256_hex(key: &[u8], message: &[u8]) -> String {
    hmac_sha256(key, &[message])
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The signing key of a Standard Webhooks secret: the base64 after `whsec_`
/// (the prefix is optional).
pub fn webhook_key(secret: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let encoded = secret.strip_prefix(WHSEC_PREFIX).unwrap_or(secret);
    crate::config::webhook_base64(encoded.trim())
}

/// `v1,<base64 HMAC-SHA256 over "id.timestamp.body">`, one per key,
/// space-separated.
pub fn standard_webhooks_signature(
    keys: &[Vec<u8>],
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    let timestamp = timestamp.to_string();
    keys.iter()
        .map(|key| {
            let mac = hmac_sha256(
                key,
                &[id.as_bytes(), b".", timestamp.as_bytes(), b".", body],
            );
            format!("v1,{}", BASE64.encode(mac))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What is wrong with a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderProblem {
    Name,
    Value,
}

/// Checks a header the way the wire needs it: a token name, and a value
/// without CR, LF or NUL (which would let a value start a new header).
pub(crate) fn check_header(name: &str, value: &str) -> Result<(), HeaderProblem> {
    if reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(HeaderProblem::Name);
    }
    if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
        || reqwest::header::HeaderValue::from_str(value).is_err()
    {
        return Err(HeaderProblem::Value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fixed vector of the Standard Webhooks reference libraries
    /// (standard-webhooks/standard-webhooks, libraries/*: `test_sign`).
    const SW_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const SW_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const SW_TIMESTAMP: i64 = 1649367553;
    const SW_BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SW_SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn input(body: &[u8]) -> SignInput<'_> {
        SignInput {
            delivery_key: SW_ID,
            timestamp: SW_TIMESTAMP,
            body,
        }
    }

    #[test]
    fn standard_webhooks_matches_the_specification_vector() {
        let key = webhook_key(SW_SECRET).unwrap();
        assert_eq!(
            standard_webhooks_signature(&[key], SW_ID, SW_TIMESTAMP, SW_BODY),
            SW_SIGNATURE
        );
        let headers = auth_headers(
            &[Auth::StandardWebhooks {
                secrets: vec![SW_SECRET.into()],
            }],
            input(SW_BODY),
        )
        .unwrap();
        assert_eq!(
            headers,
            vec![
                ("webhook-id".to_string(), SW_ID.to_string()),
                ("webhook-timestamp".to_string(), "1649367553".to_string()),
                ("webhook-signature".to_string(), SW_SIGNATURE.to_string()),
            ]
        );
    }

    #[test]
    fn standard_webhooks_rotation_sends_both_signatures() {
        let successor = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let headers = auth_headers(
            &[Auth::StandardWebhooks {
                secrets: vec![SW_SECRET.into(), successor.into()],
            }],
            input(SW_BODY),
        )
        .unwrap();
        let sig = &headers[2].1;
        let parts: Vec<&str> = sig.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SW_SIGNATURE);
        assert!(parts[1].starts_with("v1,") && parts[1] != SW_SIGNATURE);
        // Padding is optional too: the official libraries take a secret
        // copied without its `=`.
        let padded = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA==";
        assert_eq!(
            webhook_key(padded.trim_end_matches('=')).unwrap(),
            webhook_key(padded).unwrap()
        );
        // The prefix is optional: the bare base64 is the same key.
        assert_eq!(
            webhook_key(successor).unwrap(),
            webhook_key(successor.trim_start_matches("whsec_")).unwrap()
        );
    }

    #[test]
    fn a_bad_webhook_secret_is_named_by_position_not_value() {
        let err = auth_headers(
            &[Auth::StandardWebhooks {
                secrets: vec![SW_SECRET.into(), "whsec_not base64!".into()],
            }],
            input(b"{}"),
        )
        .unwrap_err();
        assert_eq!(err, SignError::WebhookSecret { index: 1 });
        assert!(!err.to_string().contains("not base64!"));
        assert_eq!(
            auth_headers(&[Auth::StandardWebhooks { secrets: vec![] }], input(b"")),
            Err(SignError::NoWebhookSecret)
        );
    }

    #[test]
    fn hmac_hex_is_over_the_exact_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let headers = auth_headers(
            &[Auth::HmacSha256 {
                header: DEFAULT_HMAC_HEADER.into(),
                secret: "Jefe".into(),
            }],
            input(b"what do ya want for nothing?"),
        )
        .unwrap();
        assert_eq!(headers[0].0, "X-Webhook-Signature");
        assert_eq!(
            headers[0].1,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn basic_bearer_and_token_header() {
        // RFC 7617's example.
        assert_eq!(
            basic("Aladdin", "open sesame").unwrap(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
        );
        assert_eq!(basic("a:b", "c"), Err(SignError::BasicUsername));
        let headers = auth_headers(
            &[
                Auth::Bearer {
                    token: "t0k".into(),
                },
                Auth::Header {
                    name: "X-Webhook-Token".into(),
                    value: "s3cret".into(),
                },
            ],
            input(b""),
        )
        .unwrap();
        assert_eq!(
            headers,
            vec![
                ("Authorization".to_string(), "Bearer t0k".to_string()),
                ("X-Webhook-Token".to_string(), "s3cret".to_string()),
            ]
        );
    }

    #[test]
    fn a_secret_with_a_newline_is_refused_without_showing_it() {
        let err = auth_headers(
            &[Auth::Header {
                name: "X-Webhook-Token".into(),
                value: "abc\r\nX-Evil: 1".into(),
            }],
            input(b""),
        )
        .unwrap_err();
        assert_eq!(
            err,
            SignError::HeaderValue {
                header: "X-Webhook-Token".into()
            }
        );
        assert!(!err.to_string().contains("Evil"));
        assert!(matches!(
            auth_headers(
                &[Auth::Header {
                    name: "Bad Name".into(),
                    value: "x".into()
                }],
                input(b"")
            ),
            Err(SignError::HeaderName { .. })
        ));
    }

    #[test]
    fn debug_masks_secrets() {
        let shown = format!(
            "{:?}",
            [
                Auth::Basic {
                    username: "u".into(),
                    password: "pw-123".into()
                },
                Auth::Bearer {
                    token: "tok-123".into()
                },
                Auth::HmacSha256 {
                    header: "X".into(),
                    secret: "hm-123".into()
                },
            ]
        );
        assert!(!shown.contains("123"), "{shown}");
    }
}
