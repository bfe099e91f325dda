//! The launch-readiness settings: off unless a launch hook is named.

use super::ConfigError;
use crate::decision::launch::{LaunchDeadlinePolicy, LaunchPolicy};

/// The launch lifecycle hook ecs-drain holds until the instance joins; unset disables launch
/// readiness.
pub const ENV_LAUNCH_HOOK_NAME: &str = "ECS_DRAIN_LAUNCH_HOOK_NAME";
/// Seconds a launched instance may take to join (default 900, 60 to 7200).
pub const ENV_LAUNCH_DEADLINE_SECONDS: &str = "ECS_DRAIN_LAUNCH_DEADLINE_SECONDS";
/// `abandon` (default: the group replaces the instance) or `continue`.
pub const ENV_LAUNCH_DEADLINE_POLICY: &str = "ECS_DRAIN_LAUNCH_DEADLINE_POLICY";
/// `true` to also wait for every daemon service of the cluster to run a task on the instance.
pub const ENV_LAUNCH_WAIT_FOR_DAEMONS: &str = "ECS_DRAIN_LAUNCH_WAIT_FOR_DAEMONS";

/// Launch readiness, when enabled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchSettings {
    /// The launch hook ecs-drain handles (and only that one).
    pub hook_name: String,
    /// Deadline, deadline result, daemons.
    pub policy: LaunchPolicy,
}

/// Reads the launch settings through `get` (trimmed, empty as unset): None when no launch hook
/// is named; the other variables are refused when malformed, even then, so a typo never waits
/// silently for the day launch readiness is turned on.
pub(super) fn launch_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<LaunchSettings>, ConfigError> {
    let mut policy = LaunchPolicy::default();
    if let Some(value) = get(ENV_LAUNCH_DEADLINE_SECONDS) {
        policy.deadline_seconds = value
            .parse::<i64>()
            .ok()
            .filter(|seconds| (60..=7200).contains(seconds))
            .ok_or(ConfigError::Invalid {
                name: ENV_LAUNCH_DEADLINE_SECONDS,
                value,
                expected: "whole seconds from 60 to 7200",
            })?;
    }
    if let Some(value) = get(ENV_LAUNCH_DEADLINE_POLICY) {
        policy.deadline_policy = match value.to_ascii_lowercase().as_str() {
            "abandon" => LaunchDeadlinePolicy::Abandon,
            "continue" => LaunchDeadlinePolicy::Continue,
            _ => {
                return Err(ConfigError::Invalid {
                    name: ENV_LAUNCH_DEADLINE_POLICY,
                    value,
                    expected: "abandon or continue",
                });
            }
        };
    }
    if let Some(value) = get(ENV_LAUNCH_WAIT_FOR_DAEMONS) {
        policy.require_daemons = match value.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                return Err(ConfigError::Invalid {
                    name: ENV_LAUNCH_WAIT_FOR_DAEMONS,
                    value,
                    expected: "true or false",
                });
            }
        };
    }
    Ok(get(ENV_LAUNCH_HOOK_NAME).map(|hook_name| LaunchSettings { hook_name, policy }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use std::collections::HashMap;

    fn read(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.insert("ECS_DRAIN_TABLE".into(), "drains".into());
        Config::from_lookup(|name| env.get(name).cloned())
    }

    #[test]
    fn launch_readiness_is_off_without_a_launch_hook() {
        let config = read(&[(ENV_LAUNCH_DEADLINE_SECONDS, "600")]).expect("config");
        assert_eq!(config.launch, None);
    }

    #[test]
    fn launch_settings_are_read_with_their_defaults() {
        let config = read(&[(ENV_LAUNCH_HOOK_NAME, "ecs-drain-launch")]).expect("config");
        assert_eq!(
            config.launch,
            Some(LaunchSettings {
                hook_name: "ecs-drain-launch".into(),
                policy: LaunchPolicy::default(),
            })
        );
        let config = read(&[
            (ENV_LAUNCH_HOOK_NAME, "ecs-drain-launch"),
            (ENV_LAUNCH_DEADLINE_SECONDS, "300"),
            (ENV_LAUNCH_DEADLINE_POLICY, "CONTINUE"),
            (ENV_LAUNCH_WAIT_FOR_DAEMONS, "true"),
        ])
        .expect("config");
        let policy = config.launch.expect("launch").policy;
        assert_eq!(policy.deadline_seconds, 300);
        assert_eq!(policy.deadline_policy, LaunchDeadlinePolicy::Continue);
        assert!(policy.require_daemons);
    }

    #[test]
    fn malformed_launch_settings_are_refused_by_name() {
        for (name, value) in [
            (ENV_LAUNCH_DEADLINE_SECONDS, "59"),
            (ENV_LAUNCH_DEADLINE_SECONDS, "7201"),
            (ENV_LAUNCH_DEADLINE_POLICY, "retry"),
            (ENV_LAUNCH_WAIT_FOR_DAEMONS, "yes"),
        ] {
            let refused = read(&[(ENV_LAUNCH_HOOK_NAME, "h"), (name, value)]);
            assert!(
                matches!(&refused, Err(ConfigError::Invalid { name: n, .. }) if *n == name),
                "{name}={value}: {refused:?}"
            );
        }
    }
}
