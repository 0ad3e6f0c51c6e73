//! The library version. The header's `WAL_VERSION_*` macros are written in
//! cbindgen.toml; tests keep both equal to Cargo.toml's version.

pub const VERSION_MAJOR: u32 = 0;
pub const VERSION_MINOR: u32 = 2;
pub const VERSION_PATCH: u32 = 0;
pub const VERSION_STRING: &str = "0.2.0";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_cargo_toml() {
        assert_eq!(VERSION_STRING, env!("CARGO_PKG_VERSION"));
        assert_eq!(VERSION_MAJOR.to_string(), env!("CARGO_PKG_VERSION_MAJOR"));
        assert_eq!(VERSION_MINOR.to_string(), env!("CARGO_PKG_VERSION_MINOR"));
        assert_eq!(VERSION_PATCH.to_string(), env!("CARGO_PKG_VERSION_PATCH"));
        assert_eq!(
            VERSION_STRING,
            format!("{VERSION_MAJOR}.{VERSION_MINOR}.{VERSION_PATCH}")
        );
    }
}
