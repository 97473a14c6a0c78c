//! The handshake's token: read from the CONNECT auth payload (authenticating it is the
//! policy's job, `crate::policy::Policy::authenticate`).

use serde_json::{value::RawValue, Value};

use crate::errors::AuthError;

/// Extracts `auth.token` from the CONNECT payload: a string, or `None` when missing or null.
pub fn token_from_auth(auth: &Value, max_len: usize) -> Result<Option<String>, AuthError> {
    match auth.get("token") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(token)) if token.len() > max_len => {
            Err(AuthError::TokenTooLong { max_len })
        }
        Some(Value::String(token)) => Ok(Some(token.clone())),
        Some(_) => Err(AuthError::TokenNotAString),
    }
}

/// Longest private id or offset a recovering client may send.
const MAX_RECOVERY_FIELD: usize = 64;

/// What a reconnecting client sends to recover (`auth.pid`, `auth.offset`), when it sends
/// short strings.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryRequest {
    /// The private id of the session to recover.
    pub pid: Option<String>,
    /// The offset of the last event it received.
    pub offset: Option<String>,
}

/// Reads `auth.pid` and `auth.offset` from the CONNECT payload text without building a tree.
pub fn recovery_from_auth_text(auth: &str) -> RecoveryRequest {
    #[derive(serde::Deserialize)]
    struct Fields<'a> {
        #[serde(borrow, default)]
        pid: Option<&'a RawValue>,
        #[serde(borrow, default)]
        offset: Option<&'a RawValue>,
    }
    let short_string = |raw: Option<&RawValue>| {
        let text = raw?.get();
        (text.starts_with('"') && text.len() <= MAX_RECOVERY_FIELD + 2)
            .then(|| serde_json::from_str::<String>(text).ok())
            .flatten()
    };
    match serde_json::from_str::<Fields<'_>>(auth) {
        Ok(fields) => {
            RecoveryRequest { pid: short_string(fields.pid), offset: short_string(fields.offset) }
        }
        Err(_) => RecoveryRequest::default(),
    }
}

/// Extracts `auth.token` from the CONNECT payload text (a JSON object, or empty) without
/// building a tree of the rest; like [`token_from_auth`].
pub fn token_from_auth_text(auth: &str, max_len: usize) -> Result<Option<String>, AuthError> {
    #[derive(serde::Deserialize)]
    struct Fields<'a> {
        #[serde(borrow, default)]
        token: Option<&'a RawValue>,
    }
    if auth.trim().is_empty() {
        return Ok(None);
    }
    let Ok(Fields { token }) = serde_json::from_str::<Fields<'_>>(auth) else {
        return Ok(None);
    };
    match token.map(RawValue::get) {
        None | Some("null") => Ok(None),
        Some(text) if text.starts_with('"') => {
            let token: String =
                serde_json::from_str(text).map_err(|_| AuthError::TokenNotAString)?;
            if token.len() > max_len {
                return Err(AuthError::TokenTooLong { max_len });
            }
            Ok(Some(token))
        }
        Some(_) => Err(AuthError::TokenNotAString),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_string_null_and_missing_tokens() {
        assert_eq!(token_from_auth(&json!({"token": "abc"}), 10), Ok(Some("abc".into())));
        assert_eq!(token_from_auth(&json!({"token": null}), 10), Ok(None));
        assert_eq!(token_from_auth(&json!({}), 10), Ok(None));
        assert_eq!(token_from_auth(&json!(null), 10), Ok(None));
    }

    #[test]
    fn reads_tokens_from_text_like_from_values() {
        assert_eq!(token_from_auth_text(r#"{"token":"abc","x":[1]}"#, 10), Ok(Some("abc".into())));
        assert_eq!(token_from_auth_text(r#"{"token":null}"#, 10), Ok(None));
        assert_eq!(token_from_auth_text("", 10), Ok(None));
        assert_eq!(token_from_auth_text(r#"{"token":4}"#, 10), Err(AuthError::TokenNotAString));
        assert_eq!(
            token_from_auth_text(&format!(r#"{{"token":"{}"}}"#, "x".repeat(11)), 10),
            Err(AuthError::TokenTooLong { max_len: 10 })
        );
    }

    #[test]
    fn refuses_bad_tokens() {
        assert_eq!(token_from_auth(&json!({"token": 42}), 10), Err(AuthError::TokenNotAString));
        assert_eq!(
            token_from_auth(&json!({"token": "x".repeat(11)}), 10),
            Err(AuthError::TokenTooLong { max_len: 10 })
        );
    }
}
