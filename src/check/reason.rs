//! Why a check did not pass, as a closed set of stable snake_case ids.
//!
//! Each check declares its own reasons with `reasons!`: a closed enum,
//! serialized `snake_case`, whose ids are its variants' names in
//! snake_case — the macro derives them at compile time, as serde does, so
//! no id is spelled by hand. The reasons the machinery gives on a check's
//! behalf (a target without the endpoint, a read that failed, a deadline)
//! are `Shared`. A verdict carries a `ReasonId`, which can only be made
//! from one of these enums: no string becomes a reason, and raw error text
//! stays in evidence (`shared/STYLE.md` §3).
//!
//! Uses: http (which failed read is which reason).

use std::fmt;

use crate::http::HttpError;

/// A closed set of reasons, declared with `reasons!` (and only there:
/// the trait is sealed by the macro).
pub trait Reason: Copy + sealed::Sealed {
    /// The stable snake_case id reports, features and tests name.
    fn as_str(self) -> &'static str;
}

/// Implemented by `reasons!` alone, so that every `Reason` is one of
/// its enums.
#[doc(hidden)]
pub(crate) mod sealed {
    pub trait Sealed {}
}

/// The reason a verdict carries: a `Reason`'s id, never a string of
/// anyone's making.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ReasonId(&'static str);

impl ReasonId {
    pub const fn as_str(self) -> &'static str {
        self.0
    }
}

impl<R: Reason> From<R> for ReasonId {
    fn from(reason: R) -> Self {
        ReasonId(reason.as_str())
    }
}

impl fmt::Debug for ReasonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0, f)
    }
}

impl fmt::Display for ReasonId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl serde::Serialize for ReasonId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0)
    }
}

/// Declares a check's closed set of reasons: the enum, serialized
/// `snake_case`, with `IDS` (every id, in order) and `as_str`.
///
/// ```ignore
/// reasons! {
///     /// Why `logs.roundtrip` did not pass, beside the shared reasons.
///     pub(crate) enum Reason { Duplicate }
/// }
/// ```
macro_rules! reasons {
    ($(#[$meta:meta])* $vis:vis enum $name:ident { $($(#[$variant_meta:meta])* $variant:ident),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        #[serde(rename_all = "snake_case")]
        $vis enum $name {
            $($(#[$variant_meta])* $variant),*
        }

        impl $name {
            /// Every reason's id, in declaration order.
            pub const IDS: &'static [&'static str] = &[$($crate::check::reason::snake_case_id!($variant)),*];

            /// The reason's stable snake_case id.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => Self::IDS[$name::$variant as usize]),*
                }
            }
        }

        impl $crate::check::reason::sealed::Sealed for $name {}

        impl $crate::check::reason::Reason for $name {
            fn as_str(self) -> &'static str {
                $name::as_str(self)
            }
        }
    };
}
pub(crate) use reasons;

/// A variant name in snake_case, at compile time: `NotFoundById` →
/// `not_found_by_id`, as serde's `rename_all = "snake_case"` spells it.
#[doc(hidden)]
macro_rules! snake_case_id {
    ($variant:ident) => {{
        const NAME: &str = stringify!($variant);
        const BYTES: [u8; $crate::check::reason::snake_case_len(NAME)] = $crate::check::reason::snake_case(NAME);
        const ID: &str = match ::core::str::from_utf8(&BYTES) {
            Ok(id) => id,
            Err(_) => panic!("a reason's variant name is ASCII"),
        };
        ID
    }};
}
pub(crate) use snake_case_id;

/// The length of `name` in snake_case: one `_` before each inner capital.
#[doc(hidden)]
pub(crate) const fn snake_case_len(name: &str) -> usize {
    let bytes = name.as_bytes();
    let mut len = bytes.len();
    let mut i = 1;
    while i < bytes.len() {
        if bytes[i].is_ascii_uppercase() {
            len += 1;
        }
        i += 1;
    }
    len
}

/// `name` in snake_case, `N` bytes long (`snake_case_len(name)`).
#[doc(hidden)]
pub(crate) const fn snake_case<const N: usize>(name: &str) -> [u8; N] {
    let bytes = name.as_bytes();
    let mut out = [0u8; N];
    let (mut i, mut o) = (0, 0);
    while i < bytes.len() {
        if i > 0 && bytes[i].is_ascii_uppercase() {
            out[o] = b'_';
            o += 1;
        }
        out[o] = bytes[i].to_ascii_lowercase();
        o += 1;
        i += 1;
    }
    out
}

reasons! {
    /// The reasons the machinery gives on a check's behalf, the same for
    /// every check that can meet them.
    pub enum Shared {
        /// The target names no endpoint the check needs (a skip).
        NotConfigured,
        /// Nothing answered: a refused connection or a timeout (an error).
        Unreachable,
        /// An answer came back that could not be read: a 4xx, a 5xx where
        /// the store's serving is not what is judged, a 429, a redirect, a
        /// body that does not decode (an error).
        ReadFailed,
        /// The check's query could not be built from these names (an error).
        BadQuery,
        /// The check did not finish within its deadline (an error).
        Deadline,
        /// A signal stopped the run before the check finished (a skip).
        Interrupted,
        /// `stack.ready` reached no component, so the check was not run (a
        /// skip).
        Unreached,
        /// The collector refused or rejected what was sent (a failure).
        Rejected,
        /// The receiver refused what was sent for its rate limit (Faro's
        /// 429), told apart from `rejected` (a failure).
        RateLimited,
        /// The store answered, within `max_wait`, without what was sent (a
        /// failure).
        NotFound,
        /// The datasources' correlation settings could not be read (an error).
        SettingsUnreadable,
    }
}

impl Shared {
    /// The reason a failed read gives: `unreachable` when nothing
    /// answered, else `read_failed`.
    pub fn of(err: &HttpError) -> Shared {
        if err.is_unreachable() {
            Shared::Unreachable
        } else {
            Shared::ReadFailed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_the_variants_in_snake_case_as_serde_writes_them() {
        reasons! {
            enum Sample { A, NotFoundById, Http5xxRejected }
        }
        assert_eq!(Sample::IDS, ["a", "not_found_by_id", "http5xx_rejected"]);
        for reason in [Sample::A, Sample::NotFoundById, Sample::Http5xxRejected] {
            assert_eq!(serde_json::to_value(reason).unwrap(), reason.as_str());
            assert_eq!(ReasonId::from(reason).as_str(), reason.as_str());
        }
        assert_eq!(format!("{:?}", ReasonId::from(Sample::A)), "\"a\"");
        assert_eq!(
            serde_json::to_value(ReasonId::from(Shared::NotFound)).unwrap(),
            "not_found"
        );
    }
}
