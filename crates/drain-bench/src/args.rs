//! Command-line flags of the benchmark binaries, read the same way by each of them.

/// Why a flag could not be read (both binaries' error type).
pub type FlagError = Box<dyn std::error::Error + Send + Sync>;

/// The whole number after `name` in `args`, or `default` when the flag is absent: a flag with
/// no value, or one that is not a whole number, is an error naming it.
pub fn flag(args: &[String], name: &str, default: usize) -> Result<usize, FlagError> {
    match args.iter().position(|arg| arg == name) {
        Some(index) => Ok(args
            .get(index + 1)
            .ok_or(format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn a_flag_reads_its_value_or_falls_back_to_the_default() {
        let given = args(&["--drains", "7", "--events"]);
        assert_eq!(flag(&given, "--drains", 50).ok(), Some(7));
        assert_eq!(flag(&given, "--instances", 1_000).ok(), Some(1_000));
        let missing = flag(&given, "--events", 1).expect_err("no value");
        assert_eq!(missing.to_string(), "--events needs a value");
        let bad = args(&["--drains", "many"]);
        assert!(flag(&bad, "--drains", 50).is_err());
    }
}
