//! Validated values. Each can only be built through its constructor, so a service holding an
//! `Email` knows it is trimmed and well-formed without checking again.

use std::fmt;

macro_rules! string_value {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The length rule of a text field, and the rule of every text: no NUL character, which no
/// PostgreSQL text can hold and no person types.
fn char_count_between(value: &str, min: usize, max: usize, what: &str) -> Result<(), String> {
    if value.contains('\0') {
        return Err(format!("{what} may not contain NUL characters."));
    }
    let count = value.chars().count();
    if count < min {
        if min == 1 {
            Err(format!("{what} may not be blank."))
        } else {
            Err(format!("{what} must have at least {min} characters."))
        }
    } else if count > max {
        Err(format!("{what} must have at most {max} characters."))
    } else {
        Ok(())
    }
}

string_value!(
    /// An email address, trimmed, with one `@` between a non-empty local part and a dotted-or-not
    /// domain, no whitespace, at most 254 characters (RFC 5321's path limit). Uniqueness is
    /// case-insensitive and is the database's job.
    Email
);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("Email may not be blank.".into());
        }
        if value.chars().count() > 254 {
            return Err("Email must have at most 254 characters.".into());
        }
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.is_empty()
                    && !domain.contains('@')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            }
            None => false,
        };
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err("Enter a valid email address.".into())
        }
    }
}

impl Email {
    /// The form under which emails are unique and looked up: see [`email_key`].
    pub fn key(&self) -> String {
        email_key(&self.0)
    }
}

/// Emails are unique regardless of letter case, in every script ("Zoë" and "ZOË" are one
/// address), so the comparison key is Unicode lower case, computed here once rather than by each
/// database's `lower()` (SQLite's folds ASCII only). Callers trim; the key does not.
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

impl fmt::Debug for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Email").field(&self.0).finish()
    }
}

string_value!(
    /// A person's name as shown: trimmed, 1 to 255 characters.
    FullName
);

impl FullName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        char_count_between(value, 1, 255, "Full name")?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for FullName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("FullName").field(&self.0).finish()
    }
}

string_value!(
    /// A profile's bio: at most 255 characters, may be empty.
    Bio
);

impl Bio {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        char_count_between(value, 0, 255, "Bio")?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for Bio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Bio").field(&self.0).finish()
    }
}

string_value!(
    /// A password as typed: 8 to 1024 characters, never trimmed. The upper bound is checked before
    /// any hashing, so a huge body cannot buy expensive work. Its `Debug` never shows it.
    Password
);

impl Password {
    pub const MAX_CHARS: usize = 1024;

    pub fn parse(raw: &str) -> Result<Self, String> {
        char_count_between(raw, 8, Self::MAX_CHARS, "Password")?;
        Ok(Self(raw.to_owned()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(***)")
    }
}

string_value!(
    /// A post's caption: at most 2,200 characters (Instagram's limit), may be empty.
    Caption
);

impl Caption {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        char_count_between(value, 0, 2200, "Caption")?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for Caption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Caption").field(&self.0).finish()
    }
}

string_value!(
    /// A picture's text alternative for screen readers: at most 1,000 characters.
    AltText
);

impl AltText {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        char_count_between(value, 0, 1000, "Alt text")?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for AltText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("AltText").field(&self.0).finish()
    }
}

string_value!(
    /// A comment or reply: 1 to 2,200 characters after trimming.
    CommentContent
);

impl CommentContent {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let value = raw.trim();
        char_count_between(value, 1, 2200, "Content")?;
        Ok(Self(value.to_owned()))
    }
}

impl fmt::Debug for CommentContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CommentContent").field(&self.0).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_is_trimmed_and_checked() {
        assert_eq!(
            Email::parse("  a@b.co ").map(Email::into_inner),
            Ok("a@b.co".into())
        );
        for bad in [
            "", "   ", "no-at", "@b.co", "a@", "a@@b", "a b@c.d", "a@.b", "a@b.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(Email::parse(&format!("{}@b.co", "a".repeat(250))).is_err());
    }

    #[test]
    fn password_bounds_count_characters_not_bytes() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(1024)).is_ok());
        assert!(Password::parse(&"a".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret-password")),
            "Ok(Password(***))"
        );
    }

    #[test]
    fn text_limits() {
        assert!(FullName::parse("  ").is_err());
        assert!(FullName::parse(&"x".repeat(256)).is_err());
        assert!(Bio::parse("").is_ok());
        assert!(Bio::parse(&"x".repeat(256)).is_err());
        assert!(Caption::parse(&"x".repeat(2200)).is_ok());
        assert!(Caption::parse(&"x".repeat(2201)).is_err());
        assert!(AltText::parse(&"x".repeat(1001)).is_err());
        assert!(CommentContent::parse(" \n ").is_err());
        assert_eq!(
            CommentContent::parse(" hi ").map(CommentContent::into_inner),
            Ok("hi".into())
        );
    }

    #[test]
    fn no_text_holds_a_nul() {
        let nul = "a\0b";
        let message = |r: Result<String, String>| r.err().unwrap_or_default();
        assert_eq!(
            message(FullName::parse(nul).map(FullName::into_inner)),
            "Full name may not contain NUL characters."
        );
        assert!(Bio::parse(nul).is_err());
        assert!(Caption::parse(nul).is_err());
        assert!(AltText::parse(nul).is_err());
        assert!(CommentContent::parse(nul).is_err());
        assert!(Password::parse("password\0").is_err());
        assert!(Email::parse("a\0@b.c").is_err());
    }
}
