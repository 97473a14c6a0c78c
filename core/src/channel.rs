//! Channel names: `category:id`, where the category is the text before the first `:`.

use crate::errors::ChannelNameError;

/// Longest channel name (`category:id`) in bytes, by default: the default of
/// [`crate::config::Config::max_channel_name_len`], and the limit the JS layer's
/// `ServerChannel` checks categories against (exported by the binding).
pub const DEFAULT_MAX_CHANNEL_NAME_LEN: usize = 256;

/// A validated channel name, split into its category and id.
///
/// The id is everything after the first `:` and may itself contain `:`
/// (`PROTOCOL.md`, "Channels").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelName {
    full: String,
    split_at: usize,
}

impl ChannelName {
    /// Parses and validates `name`, rejecting names longer than `max_len` bytes.
    pub fn parse(name: &str, max_len: usize) -> Result<Self, ChannelNameError> {
        if name.is_empty() {
            return Err(ChannelNameError::Empty);
        }
        if name.len() > max_len {
            return Err(ChannelNameError::TooLong { max_len });
        }
        let split_at = name.find(':').ok_or(ChannelNameError::MissingSeparator)?;
        if split_at == 0 {
            return Err(ChannelNameError::EmptyCategory);
        }
        if split_at + 1 == name.len() {
            return Err(ChannelNameError::EmptyId);
        }
        if name.chars().any(char::is_control) {
            return Err(ChannelNameError::ControlCharacter);
        }
        Ok(Self { full: name.to_owned(), split_at })
    }

    /// The category: the text before the first `:` (e.g. `chat`).
    pub fn category(&self) -> &str {
        &self.full[..self.split_at]
    }

    /// The id: everything after the first `:` (e.g. `room123`).
    pub fn id(&self) -> &str {
        &self.full[self.split_at + 1..]
    }

    /// The full name, which is also the Socket.IO room name.
    pub fn as_str(&self) -> &str {
        &self.full
    }
}

/// Checks that a category is usable in a channel name: non-empty, no `:`, no control characters.
pub fn validate_category(category: &str, max_len: usize) -> Result<(), ChannelNameError> {
    if category.is_empty() {
        return Err(ChannelNameError::EmptyCategory);
    }
    if category.len() >= max_len {
        return Err(ChannelNameError::TooLong { max_len });
    }
    if category.contains(':') {
        return Err(ChannelNameError::SeparatorInCategory);
    }
    if category.chars().any(char::is_control) {
        return Err(ChannelNameError::ControlCharacter);
    }
    Ok(())
}

/// Builds the room name for `category` and `id`, validating the result like a client's join.
pub fn room_name(
    category: &str,
    id: &str,
    max_len: usize,
) -> Result<ChannelName, ChannelNameError> {
    validate_category(category, max_len)?;
    ChannelName::parse(&format!("{category}:{id}"), max_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_the_first_colon() {
        let name = ChannelName::parse("chat:room:42", 256).unwrap();
        assert_eq!(name.category(), "chat");
        assert_eq!(name.id(), "room:42");
        assert_eq!(name.as_str(), "chat:room:42");
    }

    #[test]
    fn rejects_malformed_names() {
        assert_eq!(ChannelName::parse("", 256), Err(ChannelNameError::Empty));
        assert_eq!(ChannelName::parse("chat", 256), Err(ChannelNameError::MissingSeparator));
        assert_eq!(ChannelName::parse(":x", 256), Err(ChannelNameError::EmptyCategory));
        assert_eq!(ChannelName::parse("chat:", 256), Err(ChannelNameError::EmptyId));
        assert_eq!(ChannelName::parse("chat:a\nb", 256), Err(ChannelNameError::ControlCharacter));
        assert_eq!(
            ChannelName::parse(&format!("chat:{}", "x".repeat(300)), 256),
            Err(ChannelNameError::TooLong { max_len: 256 })
        );
    }

    #[test]
    fn accepts_unicode_up_to_the_byte_limit() {
        let id = "é".repeat(125); // 250 bytes
        assert!(ChannelName::parse(&format!("chat:{id}"), 256).is_ok());
        assert!(ChannelName::parse(&format!("chat:{id}é"), 256).is_err());
    }

    #[test]
    fn validates_categories() {
        assert!(validate_category("chat", 256).is_ok());
        assert_eq!(validate_category("", 256), Err(ChannelNameError::EmptyCategory));
        assert_eq!(validate_category("a:b", 256), Err(ChannelNameError::SeparatorInCategory));
        assert_eq!(room_name("chat", "", 256), Err(ChannelNameError::EmptyId));
        assert_eq!(room_name("chat", "r1", 256).unwrap().as_str(), "chat:r1");
    }
}
