//! Newtypes for the identifiers ecs-drain passes around, validated once at the edge so the rest
//! of the code cannot mix an EC2 instance id with a container instance ARN.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why a string was refused as an identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind}: {value:?}")]
pub struct InvalidId {
    /// What the string was meant to be.
    pub kind: &'static str,
    /// The refused string (identifiers are not secrets).
    pub value: String,
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $valid:expr) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
                let value = value.into();
                let valid: fn(&str) -> bool = $valid;
                if valid(&value) {
                    Ok($name(value))
                } else {
                    Err(InvalidId { kind: $kind, value })
                }
            }

            /// The identifier as AWS writes it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;
            fn try_from(value: String) -> Result<Self, InvalidId> {
                $name::new(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

fn no_whitespace(value: &str) -> bool {
    !value.is_empty() && !value.chars().any(char::is_whitespace)
}

string_id!(
    /// An EC2 instance id such as `i-0598c7d356eba48d7`.
    Ec2InstanceId,
    "EC2 instance id",
    |v| v.len() > 2 && v.starts_with("i-") && v[2..].chars().all(|c| c.is_ascii_alphanumeric())
);

string_id!(
    /// An ECS container instance ARN: the key of a drain record, and what a task event names.
    ContainerInstanceArn,
    "container instance ARN",
    |v| no_whitespace(v) && v.starts_with("arn:") && v.contains(":container-instance/")
);

string_id!(
    /// An ECS cluster ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
    ClusterArn,
    "cluster ARN",
    |v| no_whitespace(v) && v.starts_with("arn:") && v.contains(":cluster/")
);

string_id!(
    /// An ECS task ARN.
    TaskArn,
    "task ARN",
    |v| no_whitespace(v) && v.starts_with("arn:") && v.contains(":task/")
);

string_id!(
    /// An Auto Scaling group name.
    AsgName,
    "Auto Scaling group name",
    |v| !v.is_empty() && v.len() <= 255
);

string_id!(
    /// A lifecycle hook name.
    HookName,
    "lifecycle hook name",
    |v| !v.is_empty() && v.len() <= 255
);

impl ClusterArn {
    /// The cluster's name, the part after `cluster/`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once(":cluster/").map_or(self.0.as_str(), |(_, name)| name)
    }
}

impl TaskArn {
    /// The task id, the last path segment of the ARN.
    pub fn id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }
}

/// A lifecycle action token. It is what completes an instance's lifecycle action, so it is
/// treated as a credential: `Debug` and `Display` show only its first 8 characters.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LifecycleToken(String);

impl LifecycleToken {
    /// Validates and wraps a token (non-empty, no whitespace).
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if no_whitespace(&value) && value.len() <= 255 {
            Ok(LifecycleToken(value))
        } else {
            Err(InvalidId { kind: "lifecycle action token", value: String::from("<redacted>") })
        }
    }

    /// The whole token, for the one call that needs it (CompleteLifecycleAction / heartbeat).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first 8 characters, safe to log.
    pub fn prefix(&self) -> &str {
        let end = self.0.char_indices().nth(8).map_or(self.0.len(), |(index, _)| index);
        &self.0[..end]
    }
}

impl TryFrom<String> for LifecycleToken {
    type Error = InvalidId;
    fn try_from(value: String) -> Result<Self, InvalidId> {
        LifecycleToken::new(value)
    }
}

impl From<LifecycleToken> for String {
    fn from(token: LifecycleToken) -> String {
        token.0
    }
}

impl fmt::Debug for LifecycleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LifecycleToken({}…)", self.prefix())
    }
}

impl fmt::Display for LifecycleToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", self.prefix())
    }
}

/// One lifecycle hook of one Auto Scaling group.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HookRef {
    /// The Auto Scaling group.
    pub asg_name: AsgName,
    /// The hook on that group.
    pub hook_name: HookName,
}

/// Everything CompleteLifecycleAction and RecordLifecycleActionHeartbeat need.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleActionRef {
    /// The group and hook.
    pub hook: HookRef,
    /// The instance being terminated.
    pub instance_id: Ec2InstanceId,
    /// The action's token.
    pub token: LifecycleToken,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_shows_only_its_prefix_in_logs() {
        let token = LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("valid token");
        assert_eq!(format!("{token}"), "630aa23f…");
        assert_eq!(format!("{token:?}"), "LifecycleToken(630aa23f…)");
        assert!(!format!("{token:?}").contains("799ea6093a0f"));
        assert_eq!(token.expose(), "630aa23f-48eb-45e7-aba6-799ea6093a0f");
    }

    #[test]
    fn ids_refuse_values_of_another_kind() {
        assert!(Ec2InstanceId::new("i-0598c7d356eba48d7").is_ok());
        assert!(Ec2InstanceId::new("arn:aws:ecs:us-east-1:1:container-instance/c/x").is_err());
        assert!(Ec2InstanceId::new("i-").is_err());
        assert!(ContainerInstanceArn::new("i-0598c7d356eba48d7").is_err());
        assert!(ContainerInstanceArn::new("arn:aws:ecs:us-east-1:1:container-instance/c/x").is_ok());
        assert!(TaskArn::new("arn:aws:ecs:us-east-1:1:task/c/abc").is_ok());
        assert!(LifecycleToken::new("has space").is_err());
        assert!(LifecycleToken::new("").is_err());
    }

    #[test]
    fn cluster_name_comes_from_the_arn() {
        let arn = ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster").expect("valid");
        assert_eq!(arn.name(), "prod-cluster");
    }
}
