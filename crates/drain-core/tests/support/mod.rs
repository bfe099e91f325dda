//! What the drain-core story files share: the fixtures of tests/fixtures and the port operations
//! that change state (a refused input must log none of them).

#![allow(dead_code, unreachable_pub)] // each story file uses its own part

use serde_json::Value;

/// The operations, as the in-memory ports log them, that change something.
pub const MUTATING: &[&str] = &[
    "dynamodb:PutItem",
    "ecs:UpdateContainerInstancesState",
    "ecs:StopTask",
    "autoscaling:CompleteLifecycleAction",
    "autoscaling:RecordLifecycleActionHeartbeat",
    "scheduler:CreateSchedule",
    "scheduler:DeleteSchedule",
];

/// The text of fixture `name` (tests/fixtures at the workspace root).
pub fn fixture_text(name: &str) -> String {
    let path = format!("{}/../../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path)
        .map_err(|error| format!("{path}: {error}"))
        .expect("fixture readable")
}

/// Fixture `name` as JSON.
pub fn fixture(name: &str) -> Value {
    serde_json::from_str(&fixture_text(name)).expect("fixture json")
}
