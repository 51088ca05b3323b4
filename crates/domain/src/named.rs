//! `named_values!`: a closed set of values with a stable snake_case name (stored, sent, parsed)
//! and a label for people. Every such enum of the domain is declared with it, so parsing,
//! listing and error messages read the same everywhere.

/// Declares the enum with `ALL`, `as_str`, `label`, `parse(field, raw)` (a field error naming
/// the accepted values) and `Display`; serde uses the same snake_case names.
macro_rules! named_values {
    ($(#[$doc:meta])* $name:ident, $what:literal {
        $($(#[$vdoc:meta])* $variant:ident => ($code:literal, $label:literal)),* $(,)?
    }) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord,
            ::serde::Serialize, ::serde::Deserialize,
        )]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),*
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code),*
                }
            }

            pub fn label(self) -> &'static str {
                match self {
                    $($name::$variant => $label),*
                }
            }

            pub fn parse(field: &str, raw: &str) -> Result<Self, $crate::error::DomainError> {
                let raw = raw.trim();
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw)
                    .ok_or_else(|| {
                        $crate::error::DomainError::invalid(
                            field,
                            format!(
                                "'{raw}' is not {}; expected one of {}",
                                $what,
                                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
                            ),
                        )
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
