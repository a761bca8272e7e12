//! Names for people (a client's, a connector credential's, a retailer's): trimmed, between 1
//! and a kind's most characters, and free of control characters (a new line or an escape
//! sequence in a name would forge lines in logs and listings). Each kind states its limit
//! once, here.

/// Defines a name type of at most `$max` characters, called `$what` in messages.
macro_rules! bounded_name {
    ($(#[$meta:meta])* $name:ident, $what:literal, $max:literal) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// The most characters it may have.
            pub const MAX_CHARS: usize = $max;

            /// `text` trimmed, or why it is not acceptable.
            pub fn parse(text: &str) -> Result<Self, String> {
                let text = text.trim();
                if text.is_empty() || text.chars().count() > $max {
                    return Err(format!(concat!("a ", $what, " needs a name of 1 to {} characters"), $max));
                }
                if text.chars().any(char::is_control) {
                    return Err(concat!("a ", $what, "'s name may not contain control characters (a new line, a tab, an escape)").to_owned());
                }
                Ok(Self(text.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

pub(crate) use bounded_name;
