//! The local demo (placeholder until the timeline is written).
fn main() {}
