//! Settings, read once at start-up from a lookup function (the process environment in the
//! binaries, a map in tests). The README's configuration table lists the same names.

use crate::decision::look::CensusRule;
use crate::decision::{DeadlinePolicy, DrainPolicy};

mod launch;
pub use launch::{
    ENV_LAUNCH_DEADLINE_POLICY, ENV_LAUNCH_DEADLINE_SECONDS, ENV_LAUNCH_HOOK_NAME,
    ENV_LAUNCH_WAIT_FOR_DAEMONS, LaunchSettings,
};

/// DynamoDB table of drain records (required).
pub const ENV_TABLE: &str = "ECS_DRAIN_TABLE";
/// Comma-separated cluster names or ARNs to look for instances in; empty means every cluster.
pub const ENV_CLUSTERS: &str = "ECS_DRAIN_CLUSTERS";
/// The lifecycle hook ecs-drain handles; empty means any hook but ECS managed draining's.
pub const ENV_HOOK_NAME: &str = "ECS_DRAIN_HOOK_NAME";
/// Graceful phase of a drain, in seconds (default 3600).
pub const ENV_DEADLINE_SECONDS: &str = "ECS_DRAIN_DEADLINE_SECONDS";
/// `continue` (default) or `abandon`.
pub const ENV_DEADLINE_POLICY: &str = "ECS_DRAIN_DEADLINE_POLICY";
/// `when-needed` (default) or `every-look`: when a look at a drain takes a census. `every-look`
/// is the rule before issue 11 (a census per STOPPED event), kept to compare costs.
pub const ENV_CENSUS_RULE: &str = "ECS_DRAIN_CENSUS_RULE";
/// `dry-run` (default) or `live`: how archive replays are handled.
pub const ENV_REPLAY_MODE: &str = "ECS_DRAIN_REPLAY_MODE";
/// EventBridge Scheduler group for per-drain checks; unset disables scheduled checks.
pub const ENV_SCHEDULE_GROUP: &str = "ECS_DRAIN_SCHEDULE_GROUP";
/// Role EventBridge Scheduler assumes to invoke the lifecycle function.
pub const ENV_SCHEDULE_ROLE_ARN: &str = "ECS_DRAIN_SCHEDULE_ROLE_ARN";
/// ARN the scheduled checks invoke; defaults to the running function's own ARN.
pub const ENV_CHECK_TARGET_ARN: &str = "ECS_DRAIN_CHECK_TARGET_ARN";
/// Env var: the SQS queue a check schedule sends its event to when it cannot invoke the target.
pub const ENV_CHECK_DLQ_ARN: &str = "ECS_DRAIN_CHECK_DLQ_ARN";
/// CloudWatch namespace of the functions' EMF metrics (default `ecs-drain`).
pub const ENV_METRICS_NAMESPACE: &str = "ECS_DRAIN_METRICS_NAMESPACE";
/// The namespace when [`ENV_METRICS_NAMESPACE`] is unset.
pub const DEFAULT_METRICS_NAMESPACE: &str = "ecs-drain";
/// Days a finished drain record is kept before DynamoDB TTL removes it (default 14).
pub const ENV_RETENTION_DAYS: &str = "ECS_DRAIN_RECORD_RETENTION_DAYS";

/// `true` to drain on EC2 Instance Rebalance Recommendations too (default `false`).
pub const ENV_DRAIN_ON_REBALANCE: &str = "ECS_DRAIN_ON_REBALANCE";

/// The hook ECS managed instance draining installs on capacity-provider groups; ECS drains
/// those instances itself, so ecs-drain never handles it.
pub const ECS_MANAGED_DRAINING_HOOK: &str = "ecs-managed-draining-termination-hook";

/// How archive replays (events with `replay-name`) are handled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplayMode {
    /// Log the decision and the calls that would be made; change nothing.
    DryRun,
    /// Handle them like live events.
    Live,
}

/// Where scheduled checks go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// Schedule group name.
    pub group: String,
    /// Role the scheduler assumes.
    pub role_arn: String,
    /// What the schedule invokes, when not the function itself.
    pub target_arn: Option<String>,
    /// Where a schedule sends its event when the invocation is dropped (a dead-letter queue), so
    /// a check that never ran is visible instead of lost.
    pub dead_letter_arn: Option<String>,
}

/// Why the settings could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{0} is required")]
    Missing(&'static str),
    /// A variable holds something unusable.
    #[error("{name} is {value:?}: {expected}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What it holds.
        value: String,
        /// What it should hold.
        expected: &'static str,
    },
}

/// Every setting of both functions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// DynamoDB table.
    pub table_name: String,
    /// Clusters to search (names or ARNs); empty = all.
    pub clusters: Vec<String>,
    /// The handled hook, if restricted.
    pub hook_name: Option<String>,
    /// Deadline and policy.
    pub policy: DrainPolicy,
    /// Replay handling.
    pub replay_mode: ReplayMode,
    /// Scheduled checks, when enabled.
    pub schedule: Option<ScheduleSettings>,
    /// How long finished records are kept, in seconds.
    pub retention_seconds: i64,
    /// CloudWatch namespace of the EMF metrics.
    pub metrics_namespace: String,
    /// Drain on rebalance recommendations (Spot interruption warnings always drain).
    pub drain_on_rebalance: bool,
    /// Launch readiness, when a launch hook is configured.
    pub launch: Option<LaunchSettings>,
}

impl Config {
    /// Settings for tests: the given table, every default.
    pub fn with_table(table_name: impl Into<String>) -> Config {
        Config {
            table_name: table_name.into(),
            clusters: Vec::new(),
            hook_name: None,
            policy: DrainPolicy::default(),
            replay_mode: ReplayMode::DryRun,
            schedule: None,
            retention_seconds: 14 * 86_400,
            metrics_namespace: DEFAULT_METRICS_NAMESPACE.to_owned(),
            drain_on_rebalance: false,
            launch: None,
        }
    }

    /// Reads the settings through `lookup` (e.g. `|name| std::env::var(name).ok()`).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|value| value.trim().to_owned())
                .filter(|value| !value.is_empty())
        };
        let table_name = get(ENV_TABLE).ok_or(ConfigError::Missing(ENV_TABLE))?;
        let mut config = Config::with_table(table_name);
        config.clusters = get(ENV_CLUSTERS)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|name| !name.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        config.hook_name = get(ENV_HOOK_NAME);
        if let Some(value) = get(ENV_DEADLINE_SECONDS) {
            config.policy.deadline_seconds = value
                .parse::<i64>()
                .ok()
                .filter(|seconds| (60..=172_800).contains(seconds))
                .ok_or(ConfigError::Invalid {
                    name: ENV_DEADLINE_SECONDS,
                    value,
                    expected: "whole seconds from 60 to 172800",
                })?;
        }
        if let Some(value) = get(ENV_DEADLINE_POLICY) {
            config.policy.deadline_policy = match value.to_ascii_lowercase().as_str() {
                "continue" => DeadlinePolicy::Continue,
                "abandon" => DeadlinePolicy::Abandon,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: ENV_DEADLINE_POLICY,
                        value,
                        expected: "continue or abandon",
                    });
                }
            };
        }
        if let Some(value) = get(ENV_CENSUS_RULE) {
            config.policy.census_rule =
                CensusRule::parse(&value.to_ascii_lowercase()).ok_or(ConfigError::Invalid {
                    name: ENV_CENSUS_RULE,
                    value,
                    expected: "when-needed or every-look",
                })?;
        }
        if let Some(value) = get(ENV_REPLAY_MODE) {
            config.replay_mode = match value.to_ascii_lowercase().as_str() {
                "dry-run" | "dryrun" | "dry_run" => ReplayMode::DryRun,
                "live" => ReplayMode::Live,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: ENV_REPLAY_MODE,
                        value,
                        expected: "dry-run or live",
                    });
                }
            };
        }
        if let Some(value) = get(ENV_RETENTION_DAYS) {
            let days = value
                .parse::<i64>()
                .ok()
                .filter(|days| (1..=3650).contains(days))
                .ok_or(ConfigError::Invalid {
                    name: ENV_RETENTION_DAYS,
                    value,
                    expected: "whole days from 1 to 3650",
                })?;
            config.retention_seconds = days * 86_400;
        }
        if let Some(value) = get(ENV_METRICS_NAMESPACE) {
            // CloudWatch's namespace rules: 1-255 of these characters, and AWS/ is reserved.
            let allowed = |c: char| c.is_ascii_alphanumeric() || ".-_/#: ".contains(c);
            if value.len() > 255 || !value.chars().all(allowed) || value.starts_with("AWS/") {
                return Err(ConfigError::Invalid {
                    name: ENV_METRICS_NAMESPACE,
                    value,
                    expected: "1 to 255 of letters, digits and . - _ / # : or space, not starting \
                               with AWS/",
                });
            }
            config.metrics_namespace = value;
        }
        if let Some(value) = get(ENV_DRAIN_ON_REBALANCE) {
            config.drain_on_rebalance = match value.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: ENV_DRAIN_ON_REBALANCE,
                        value,
                        expected: "true or false",
                    });
                }
            };
        }
        config.launch = launch::launch_settings(&get)?;
        config.schedule = match (get(ENV_SCHEDULE_GROUP), get(ENV_SCHEDULE_ROLE_ARN)) {
            (Some(group), Some(role_arn)) => Some(ScheduleSettings {
                group,
                role_arn,
                target_arn: get(ENV_CHECK_TARGET_ARN),
                dead_letter_arn: get(ENV_CHECK_DLQ_ARN),
            }),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError::Missing(ENV_SCHEDULE_ROLE_ARN)),
            (None, Some(_)) => return Err(ConfigError::Missing(ENV_SCHEDULE_GROUP)),
        };
        Ok(config)
    }

    /// Whether ecs-drain handles lifecycle actions of `hook_name`.
    pub fn handles_hook(&self, hook_name: &str) -> bool {
        hook_name != ECS_MANAGED_DRAINING_HOOK
            && self
                .hook_name
                .as_deref()
                .is_none_or(|wanted| wanted == hook_name)
    }

    /// Whether `cluster_arn` is one of the configured clusters (always, when none are).
    pub fn watches_cluster(&self, cluster_arn: &crate::ids::ClusterArn) -> bool {
        self.clusters.is_empty()
            || self
                .clusters
                .iter()
                .any(|entry| entry == cluster_arn.as_str() || entry == cluster_arn.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn only_the_table_is_required() {
        assert_eq!(from(&[]), Err(ConfigError::Missing(ENV_TABLE)));
        let config = from(&[(ENV_TABLE, "drains")]).expect("valid");
        assert_eq!(config, Config::with_table("drains"));
        assert_eq!(config.replay_mode, ReplayMode::DryRun);
        assert_eq!(config.policy.deadline_seconds, 3600);
    }

    #[test]
    fn reads_every_setting() {
        let config = from(&[
            (ENV_TABLE, "drains"),
            (
                ENV_CLUSTERS,
                " prod-cluster, arn:aws:ecs:us-east-1:1:cluster/batch ,",
            ),
            (ENV_HOOK_NAME, "ecs-drain-terminate"),
            (ENV_DEADLINE_SECONDS, "900"),
            (ENV_DEADLINE_POLICY, "abandon"),
            (ENV_REPLAY_MODE, "live"),
            (ENV_SCHEDULE_GROUP, "ecs-drain"),
            (ENV_SCHEDULE_ROLE_ARN, "arn:aws:iam::1:role/scheduler"),
            (ENV_CHECK_DLQ_ARN, "arn:aws:sqs:us-east-1:1:failures"),
            (ENV_RETENTION_DAYS, "3"),
            (ENV_METRICS_NAMESPACE, "ops/ecs-drain"),
        ])
        .expect("valid");
        assert_eq!(config.metrics_namespace, "ops/ecs-drain");
        assert_eq!(
            config.clusters,
            vec![
                "prod-cluster".to_owned(),
                "arn:aws:ecs:us-east-1:1:cluster/batch".to_owned()
            ]
        );
        assert_eq!(config.policy.deadline_seconds, 900);
        assert_eq!(config.policy.deadline_policy, DeadlinePolicy::Abandon);
        assert_eq!(config.replay_mode, ReplayMode::Live);
        assert_eq!(
            config.schedule.as_ref().map(|s| s.group.as_str()),
            Some("ecs-drain")
        );
        assert_eq!(
            config
                .schedule
                .as_ref()
                .and_then(|s| s.dead_letter_arn.as_deref()),
            Some("arn:aws:sqs:us-east-1:1:failures")
        );
        assert_eq!(config.retention_seconds, 3 * 86_400);
    }

    #[test]
    fn refuses_values_out_of_range_with_the_variable_named() {
        let error = from(&[(ENV_TABLE, "t"), (ENV_DEADLINE_SECONDS, "5")]).expect_err("too short");
        assert!(
            error
                .to_string()
                .starts_with("ECS_DRAIN_DEADLINE_SECONDS is \"5\"")
        );
        assert!(from(&[(ENV_TABLE, "t"), (ENV_DEADLINE_POLICY, "kill")]).is_err());
        assert!(from(&[(ENV_TABLE, "t"), (ENV_CENSUS_RULE, "sometimes")]).is_err());
        assert_eq!(
            from(&[(ENV_TABLE, "t"), (ENV_CENSUS_RULE, "every-look")])
                .expect("valid")
                .policy
                .census_rule,
            CensusRule::EveryLook
        );
        assert_eq!(
            from(&[(ENV_TABLE, "t")]).expect("valid").policy.census_rule,
            CensusRule::WhenNeeded
        );
        assert!(from(&[(ENV_TABLE, "t"), (ENV_REPLAY_MODE, "sometimes")]).is_err());
        assert!(from(&[(ENV_TABLE, "t"), (ENV_SCHEDULE_GROUP, "g")]).is_err());
        assert!(
            from(&[(ENV_TABLE, "t"), (ENV_METRICS_NAMESPACE, "AWS/Lambda")]).is_err(),
            "reserved"
        );
        assert!(from(&[(ENV_TABLE, "t"), (ENV_METRICS_NAMESPACE, "ecs{drain}")]).is_err());
        assert_eq!(
            from(&[(ENV_TABLE, "t")]).map(|config| config.metrics_namespace),
            Ok("ecs-drain".to_owned())
        );
    }

    #[test]
    fn rebalance_draining_is_off_unless_set_true() {
        assert!(!from(&[(ENV_TABLE, "t")]).expect("valid").drain_on_rebalance);
        assert!(
            from(&[(ENV_TABLE, "t"), (ENV_DRAIN_ON_REBALANCE, "TRUE")])
                .expect("valid")
                .drain_on_rebalance
        );
        assert!(
            !from(&[(ENV_TABLE, "t"), (ENV_DRAIN_ON_REBALANCE, "false")])
                .expect("valid")
                .drain_on_rebalance
        );
        let error = from(&[(ENV_TABLE, "t"), (ENV_DRAIN_ON_REBALANCE, "yes")]).expect_err("bad");
        assert!(error.to_string().starts_with("ECS_DRAIN_ON_REBALANCE is"));
    }

    #[test]
    fn never_handles_the_ecs_managed_draining_hook() {
        let any = Config::with_table("t");
        assert!(any.handles_hook("my-hook"));
        assert!(!any.handles_hook(ECS_MANAGED_DRAINING_HOOK));
        let one = Config {
            hook_name: Some("ecs-drain-terminate".into()),
            ..Config::with_table("t")
        };
        assert!(one.handles_hook("ecs-drain-terminate"));
        assert!(!one.handles_hook("other"));
    }

    #[test]
    fn watches_clusters_by_name_or_arn() {
        let cluster =
            crate::ids::ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod")
                .expect("arn");
        assert!(Config::with_table("t").watches_cluster(&cluster));
        assert!(
            Config {
                clusters: vec!["prod".into()],
                ..Config::with_table("t")
            }
            .watches_cluster(&cluster)
        );
        assert!(
            !Config {
                clusters: vec!["staging".into()],
                ..Config::with_table("t")
            }
            .watches_cluster(&cluster)
        );
    }
}
