//! Closed sets of values that a TEXT column holds (statuses, kinds).
//!
//! `text_column!` declares such a set once: the sea-orm model field takes the enum, so a row's
//! status is read as a value and never compared as a string, and the text each variant is stored
//! as is written in exactly one place. Columns stay TEXT (no migration); an unknown text in the
//! database is a read error, not a silent fallback.

/// Declares a string-valued enum stored in a TEXT column, with `ALL`, `as_str`, `parse` and
/// `Display`. Variants are written `Name = "text"`.
#[macro_export]
macro_rules! text_column {
    (
        $(#[$meta:meta])*
        $vis:vis enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $text:tt ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, Debug, PartialEq, Eq, Hash, sea_orm::EnumIter, sea_orm::DeriveActiveEnum,
        )]
        #[sea_orm(rs_type = "String", db_type = "Text")]
        $vis enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $text)] $variant ),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The text stored in the column.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value stored as `text`, if there is one.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

#[cfg(test)]
mod tests {
    text_column! {
        /// A test set.
        enum Colour { Red = "red", DarkBlue = "dark_blue" }
    }

    #[test]
    fn each_value_is_stored_as_its_text_and_read_back() {
        use sea_orm::ActiveEnum;
        for c in Colour::ALL {
            assert_eq!(c.to_value(), c.as_str());
            assert_eq!(Colour::parse(c.as_str()), Some(*c));
            assert_eq!(Colour::try_from_value(&c.to_value()).unwrap(), *c);
        }
        assert_eq!(Colour::DarkBlue.to_string(), "dark_blue");
        assert_eq!(Colour::parse("green"), None);
    }
}
