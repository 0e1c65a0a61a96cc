//! Byte sizes as operators write them: `262144`, `256KiB`, `64MiB`, `1GiB`.

use std::fmt;
use std::str::FromStr;

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// A number of bytes, parsed from a plain count or one with a binary unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ByteSize(pub u64);

/// The text is not a byte count such as `262144` or `64MiB`.
#[derive(Debug, thiserror::Error)]
#[error("{}", cli_values::expected(
    "a whole number of bytes, optionally followed by KiB, MiB or GiB",
    "262144 or 64MiB",
    .0,
))]
pub struct BadByteSize(String);

impl ByteSize {
    pub const fn kib(n: u64) -> Self {
        Self(n * KIB)
    }

    pub const fn mib(n: u64) -> Self {
        Self(n * MIB)
    }

    pub const fn gib(n: u64) -> Self {
        Self(n * GIB)
    }

    /// The size as a `usize`, saturating on (theoretical) 32-bit overflow.
    pub fn as_usize(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl FromStr for ByteSize {
    type Err = BadByteSize;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadByteSize(text.to_owned());
        let trimmed = text.trim();
        let digits = trimmed
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(digits);
        let number: u64 = number.parse().map_err(|_| bad())?;
        let scale = match unit.trim_start() {
            "" | "B" => 1,
            "KiB" => KIB,
            "MiB" => MIB,
            "GiB" => GIB,
            _ => return Err(bad()),
        };
        number.checked_mul(scale).map(Self).ok_or_else(bad)
    }
}

/// Prints the largest unit that divides the size exactly, so that what the
/// inbox prints can be pasted back as a setting.
impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (unit, scale) in [("GiB", GIB), ("MiB", MIB), ("KiB", KIB)] {
            if self.0 >= scale && self.0 % scale == 0 {
                return write!(f, "{}{unit}", self.0 / scale);
            }
        }
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counts_and_binary_units() {
        let parse = |text: &str| text.parse::<ByteSize>().map(|size| size.0);
        assert_eq!(parse("262144").ok(), Some(262_144));
        assert_eq!(parse("256KiB").ok(), Some(262_144));
        assert_eq!(parse("64 MiB").ok(), Some(64 << 20));
        assert_eq!(parse("1GiB").ok(), Some(1 << 30));
        assert_eq!(parse("10B").ok(), Some(10));
        for bad in [
            "",
            "MiB",
            "64MB",
            "64mib",
            "-1",
            "1.5MiB",
            "99999999999999999999GiB",
        ] {
            let error = parse(bad).expect_err(bad);
            assert!(
                error.to_string().contains("such as 262144 or 64MiB"),
                "{error}"
            );
        }
    }

    #[test]
    fn displays_in_the_accepted_form() {
        for size in [
            ByteSize(1000),
            ByteSize::kib(256),
            ByteSize::mib(64),
            ByteSize::gib(1),
        ] {
            assert_eq!(size.to_string().parse::<ByteSize>().ok(), Some(size));
        }
        assert_eq!(ByteSize::kib(1536).to_string(), "1536KiB");
        assert_eq!(ByteSize(1000).to_string(), "1000");
    }
}
