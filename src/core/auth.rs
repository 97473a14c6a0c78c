//! The handshake: reading the token from the CONNECT auth payload and authenticating it.

use std::sync::Arc;

use serde_json::Value;

use crate::core::{config::Config, errors::AuthError, hooks::AppHooks};

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

/// Runs the app's `authenticate` for connection `sid`, bounded by the configured timeout.
pub async fn authenticate(
    hooks: &Arc<dyn AppHooks>,
    config: &Config,
    sid: String,
    token: Option<String>,
) -> Result<(), AuthError> {
    match tokio::time::timeout(config.auth_timeout, hooks.authenticate(sid, token)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(message)) => Err(AuthError::Refused(message)),
        Err(_) => Err(AuthError::TimedOut),
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
    fn refuses_bad_tokens() {
        assert_eq!(token_from_auth(&json!({"token": 42}), 10), Err(AuthError::TokenNotAString));
        assert_eq!(
            token_from_auth(&json!({"token": "x".repeat(11)}), 10),
            Err(AuthError::TokenTooLong { max_len: 10 })
        );
    }
}
