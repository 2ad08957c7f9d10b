//! The API key, wrapped so that it cannot reach a log line or an error message by accident.

use std::fmt;

/// An API key. `Debug` and `Display` never show it; only [`ApiKey::expose`] does, and only the
/// provider layer calls that, to build the `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// `None` for an empty or blank value, so that `MOONSHOT_API_KEY=""` reads as "not set".
    pub fn new(raw: impl Into<String>) -> Option<Self> {
        let raw = raw.into();
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            None
        } else {
            Some(ApiKey(trimmed.to_string()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What kind of key this looks like, for diagnostics: never any part of the secret itself
    /// beyond the public prefix that names the product.
    pub fn kind(&self) -> KeyKind {
        if self.0.starts_with("sk-kimi-") {
            KeyKind::KimiCode
        } else if self.0.starts_with("sk-") {
            KeyKind::Platform
        } else {
            KeyKind::Other
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// `sk-…`: a key from platform.moonshot.ai or platform.moonshot.cn.
    Platform,
    /// `sk-kimi-…`: a key of the separate Kimi Code product; the platform API rejects it.
    KimiCode,
    /// Anything else: a self-hosted server's token, another vendor's key.
    Other,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_formats_the_secret() {
        let key = ApiKey::new("sk-abcdef123456").unwrap();
        assert!(!format!("{key:?} {key}").contains("abcdef"));
        assert_eq!(key.expose(), "sk-abcdef123456");
    }

    #[test]
    fn blank_is_not_a_key() {
        assert!(ApiKey::new("  ").is_none());
        assert_eq!(ApiKey::new("sk-kimi-x").unwrap().kind(), KeyKind::KimiCode);
    }
}
