//! Newtypes for the identifiers ecs-drain passes around, validated once at the edge so the rest
//! of the code cannot mix an EC2 instance id with a container instance ARN.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How many characters of an untrusted value a log line or error quotes.
pub const QUOTE_LIMIT: usize = 200;

/// An untrusted value made safe to quote in a log line or error: escaped (no control or
/// invisible character reaches the log), cut to its first [`QUOTE_LIMIT`] characters, and, when
/// cut, followed by its full length. The result is at most a few kilobytes whatever the input.
pub fn quoted(value: &str) -> String {
    let length = value.chars().count();
    let head: String = value.chars().take(QUOTE_LIMIT).collect();
    if length > QUOTE_LIMIT {
        format!("{head:?}… ({length} characters)")
    } else {
        format!("{head:?}")
    }
}

/// Why a string was refused as an identifier. It keeps only a bounded, escaped quote of the
/// value: an identifier of megabytes must not become a log line of megabytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value}: {expected}")]
pub struct InvalidId {
    /// What the string was meant to be.
    pub kind: &'static str,
    /// The refused string, quoted with [`quoted`] (identifiers are not secrets; tokens are
    /// redacted).
    pub value: String,
    /// What the identifier must look like.
    pub expected: &'static str,
}

impl InvalidId {
    fn of(kind: &'static str, value: &str, expected: &'static str) -> InvalidId {
        InvalidId {
            kind,
            value: quoted(value),
            expected,
        }
    }
}

macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $expected:literal, $valid:expr) => {
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
                    Err(InvalidId::of($kind, &value, $expected))
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

fn is_hex(value: &str) -> bool {
    value.bytes().all(|b| b.is_ascii_hexdigit())
}

/// EC2 instance ids: `i-` and 8 (older) or 17 lowercase hex digits.
fn valid_instance_id(value: &str) -> bool {
    value.strip_prefix("i-").is_some_and(|digits| {
        matches!(digits.len(), 8 | 17)
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// Characters that render as nothing (or reorder text) and so let two names that look the
/// same differ: zero-width spaces and joiners, bidirectional controls, the byte order mark,
/// the soft hyphen, and the non-characters the API's XML string pattern excludes.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFF}'
            | '\u{E0000}'..='\u{E007F}'
    )
}

/// Auto Scaling group names: 1–255 characters of the API's XML string pattern, and none of
/// the control or invisible characters that pattern happens to allow (tab, newline, ...).
/// Look-alike letters cannot be told apart here: DescribeAutoScalingInstances must report the
/// very same name before anything is changed (see [`crate::decision::verify`]).
fn valid_group_name(value: &str) -> bool {
    let length = value.chars().count();
    (1..=255).contains(&length) && !value.chars().any(|c| c.is_control() || is_invisible(c))
}

/// Lifecycle hook names: 1–255 of `[A-Za-z0-9\-_\/]`.
fn valid_hook_name(value: &str) -> bool {
    (1..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/'))
}

/// The placeholder token of a drain that no lifecycle action holds yet.
const NO_ACTION_YET: &str = "00000000-0000-0000-0000-000000000000";

/// Lifecycle action tokens: a UUID, 36 characters, `8-4-4-4-12` hex digits.
fn valid_token(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    value.len() == 36
        && groups.iter().map(|group| group.len()).eq([8, 4, 4, 4, 12])
        && groups.iter().all(|group| is_hex(group))
}

/// The parts of an ECS ARN: `arn:<partition>:ecs:<region>:<account>:<resource>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EcsArnParts<'a> {
    /// `aws`, `aws-cn`, `aws-us-gov`, ...
    pub partition: &'a str,
    /// e.g. `us-east-1`.
    pub region: &'a str,
    /// The 12-digit account id.
    pub account: &'a str,
    /// `cluster`, `container-instance`, `task`.
    pub resource_type: &'a str,
    /// The path after `<resource-type>/`.
    pub path: &'a str,
}

/// The longest ECS ARN accepted: the prefix, a 255-character cluster name and an id.
const MAX_ECS_ARN: usize = 512;

fn valid_partition(value: &str) -> bool {
    value == "aws"
        || value.strip_prefix("aws-").is_some_and(|rest| {
            !rest.is_empty()
                && rest.len() <= 16
                && rest.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        })
}

/// Region codes such as `us-east-1`, `us-gov-west-1`, `cn-north-1`, `eusc-de-east-1`.
fn valid_region(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let Some((last, first_parts)) = parts.split_last() else {
        return false;
    };
    value.len() <= 32
        && parts.len() >= 3
        && (1..=2).contains(&last.len())
        && last.bytes().all(|b| b.is_ascii_digit())
        && first_parts
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_lowercase()))
}

fn valid_account(value: &str) -> bool {
    value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit())
}

/// ECS cluster names: 1–255 letters, digits, hyphens and underscores.
fn valid_cluster_name(value: &str) -> bool {
    (1..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Container instance and task ids: 32 hex digits today, a UUID in old-format ARNs.
fn valid_resource_id(value: &str) -> bool {
    (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The `N` fields of `fields`, or None when it holds fewer or more.
pub fn exactly<'a, const N: usize>(
    mut fields: impl Iterator<Item = &'a str>,
) -> Option<[&'a str; N]> {
    let mut out = [""; N];
    for slot in &mut out {
        *slot = fields.next()?;
    }
    fields.next().is_none().then_some(out)
}

/// Splits an ECS ARN of `resource_type`, checking partition, service, region and account.
pub fn ecs_arn_parts<'a>(value: &'a str, resource_type: &str) -> Option<EcsArnParts<'a>> {
    if value.len() > MAX_ECS_ARN {
        return None;
    }
    let Some(["arn", partition, "ecs", region, account, resource]) = exactly(value.splitn(6, ':'))
    else {
        return None;
    };
    let (kind, path) = resource.split_once('/')?;
    (kind == resource_type
        && valid_partition(partition)
        && valid_region(region)
        && valid_account(account))
    .then_some(EcsArnParts {
        partition,
        region,
        account,
        resource_type: kind,
        path,
    })
}

/// `<cluster>/<id>` or, in old-format ARNs without the cluster segment, `<id>`.
fn valid_cluster_scoped(path: &str) -> bool {
    match path.split_once('/') {
        Some((cluster, id)) => valid_cluster_name(cluster) && valid_resource_id(id),
        None => valid_resource_id(path),
    }
}

string_id!(
    /// An EC2 instance id such as `i-0598c7d356eba48d7`.
    Ec2InstanceId,
    "EC2 instance id",
    "i- and 8 or 17 lowercase hex digits",
    valid_instance_id
);

string_id!(
    /// An ECS container instance ARN: the key of a drain record, and what a task event names.
    ContainerInstanceArn,
    "container instance ARN",
    "arn:<partition>:ecs:<region>:<account>:container-instance/[<cluster>/]<id>",
    |v| ecs_arn_parts(v, "container-instance").is_some_and(|parts| valid_cluster_scoped(parts.path))
);

string_id!(
    /// An ECS cluster ARN (`arn:aws:ecs:<region>:<account>:cluster/<name>`).
    ClusterArn,
    "cluster ARN",
    "arn:<partition>:ecs:<region>:<account>:cluster/<name>",
    |v| ecs_arn_parts(v, "cluster").is_some_and(|parts| valid_cluster_name(parts.path))
);

string_id!(
    /// An ECS task ARN.
    TaskArn,
    "task ARN",
    "arn:<partition>:ecs:<region>:<account>:task/[<cluster>/]<id>",
    |v| ecs_arn_parts(v, "task").is_some_and(|parts| valid_cluster_scoped(parts.path))
);

string_id!(
    /// An Auto Scaling group name.
    AsgName,
    "Auto Scaling group name",
    "1 to 255 characters, no control or invisible characters",
    valid_group_name
);

string_id!(
    /// A lifecycle hook name.
    HookName,
    "lifecycle hook name",
    "1 to 255 of A-Z a-z 0-9 - _ /",
    valid_hook_name
);

impl ContainerInstanceArn {
    /// The container instance id, the last path segment of the ARN.
    pub fn id(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The ARN's partition, region and account.
    pub fn parts(&self) -> Option<EcsArnParts<'_>> {
        ecs_arn_parts(&self.0, "container-instance")
    }
}

impl ClusterArn {
    /// The cluster's name, the part after `cluster/`.
    pub fn name(&self) -> &str {
        self.0
            .rsplit_once(":cluster/")
            .map_or(self.0.as_str(), |(_, name)| name)
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
    /// Validates and wraps a token: Auto Scaling issues UUIDs (36 characters).
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidId> {
        let value = value.into();
        if valid_token(&value) {
            Ok(LifecycleToken(value))
        } else {
            let length = value.chars().count();
            Err(InvalidId {
                kind: "lifecycle action token",
                value: format!("<redacted, {length} characters>"),
                expected: "a UUID: 36 characters, 8-4-4-4-12 hex digits",
            })
        }
    }

    /// The all-zero UUID, which Auto Scaling never issues (its tokens are random UUIDs): the
    /// placeholder a drain started ahead of any lifecycle action holds until one joins it.
    pub fn none_yet() -> Self {
        LifecycleToken(NO_ACTION_YET.to_owned())
    }

    /// Whether this is the [`LifecycleToken::none_yet`] placeholder.
    pub fn is_none_yet(&self) -> bool {
        self.0 == NO_ACTION_YET
    }

    /// The whole token, for the one call that needs it (CompleteLifecycleAction / heartbeat).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The first 8 characters, safe to log.
    pub fn prefix(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(8)
            .map_or(self.0.len(), |(index, _)| index);
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
    fn exactly_takes_all_the_fields_or_none() {
        assert_eq!(exactly::<3>("a b c".split(' ')), Some(["a", "b", "c"]));
        assert_eq!(exactly::<3>("a b".split(' ')), None);
        assert_eq!(exactly::<3>("a b c d".split(' ')), None);
    }

    #[test]
    fn token_shows_only_its_prefix_in_logs() {
        let token =
            LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").expect("valid token");
        assert_eq!(format!("{token}"), "630aa23f…");
        assert_eq!(format!("{token:?}"), "LifecycleToken(630aa23f…)");
        assert!(!format!("{token:?}").contains("799ea6093a0f"));
        assert_eq!(token.expose(), "630aa23f-48eb-45e7-aba6-799ea6093a0f");
    }

    #[test]
    fn ids_refuse_values_of_another_kind() {
        assert!(Ec2InstanceId::new("i-0598c7d356eba48d7").is_ok());
        assert!(
            Ec2InstanceId::new("arn:aws:ecs:us-east-1:123456789012:container-instance/c/x")
                .is_err()
        );
        assert!(Ec2InstanceId::new("i-").is_err());
        assert!(ContainerInstanceArn::new("i-0598c7d356eba48d7").is_err());
        assert!(
            ContainerInstanceArn::new("arn:aws:ecs:us-east-1:123456789012:container-instance/c/x")
                .is_ok()
        );
        assert!(TaskArn::new("arn:aws:ecs:us-east-1:123456789012:task/c/abc").is_ok());
        assert!(
            TaskArn::new("arn:aws:ecs:us-east-1:123456789012:container-instance/c/abc").is_err()
        );
        assert!(ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:task/c").is_err());
        assert!(LifecycleToken::new("has space").is_err());
        assert!(LifecycleToken::new("").is_err());
    }

    #[test]
    fn instance_ids_are_i_and_8_or_17_hex_digits() {
        for valid in ["i-0598c7d356eba48d7", "i-1a2b3c4d"] {
            assert!(Ec2InstanceId::new(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "i-0598c7d356eba48d",
            "i-0598c7d356eba48d7a",
            "i-1a2b3c4",
            "i-0598C7D356EBA48D7",
            "i-0598c7d356eba48g7",
            "i-1a2b3c4d\0",
            "x-1a2b3c4d",
        ] {
            assert!(Ec2InstanceId::new(invalid).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn group_and_hook_names_follow_the_api_reference() {
        assert!(AsgName::new("prod-ecs-asg").is_ok());
        assert!(
            AsgName::new("grupo de producción").is_ok(),
            "the API allows any printable unicode"
        );
        assert!(AsgName::new("a".repeat(255)).is_ok());
        for invalid in [
            String::new(),
            "a".repeat(256),
            "prod\0".into(),
            "prod\nasg".into(),
            "prod\u{200B}asg".into(),
            "prod\u{202E}".into(),
            "\u{1b}[31m".into(),
        ] {
            assert!(AsgName::new(invalid.clone()).is_err(), "{invalid:?}");
        }
        assert!(HookName::new("ecs-drain/terminate_1").is_ok());
        for invalid in [
            String::new(),
            "h".repeat(256),
            "has space".into(),
            "hook\0".into(),
            "hoök".into(),
            "hook:1".into(),
        ] {
            assert!(HookName::new(invalid.clone()).is_err(), "{invalid:?}");
        }
    }

    #[test]
    fn tokens_are_uuids() {
        assert!(LifecycleToken::new("630aa23f-48eb-45e7-aba6-799ea6093a0f").is_ok());
        assert!(LifecycleToken::new("630AA23F-48EB-45E7-ABA6-799EA6093A0F").is_ok());
        for invalid in [
            "630aa23f48eb45e7aba6799ea6093a0f",
            "630aa23f-48eb-45e7-aba6-799ea6093a0",
            "630aa23f-48eb-45e7-aba6-799ea6093a0fx",
            "630aa23f-48eb-45e7-aba6-799ea6093a0\0",
            "630aa23f-48eb-45e7-aba6-799ea6093a0é",
            "g30aa23f-48eb-45e7-aba6-799ea6093a0f",
        ] {
            let error = LifecycleToken::new(invalid).expect_err(invalid);
            assert!(
                !error.to_string().contains("630aa23f"),
                "a refused token is never quoted: {error}"
            );
        }
    }

    #[test]
    fn ecs_arns_name_partition_region_account_and_resource_type() {
        for valid in [
            "arn:aws:ecs:us-east-1:123456789012:container-instance/prod-cluster/\
             3f1e2c5a7b9d4e6f8a0b1c2d3e4f5a6b",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/1a2b3c4d-5e6f-7a8b-9c0d-\
             1e2f3a4b5c6d",
            "arn:aws-cn:ecs:cn-north-1:123456789012:container-instance/c/3f1e",
            "arn:aws-us-gov:ecs:us-gov-west-1:123456789012:container-instance/c/3f1e",
        ] {
            assert!(ContainerInstanceArn::new(valid).is_ok(), "{valid}");
        }
        for invalid in [
            "arn:aws:ecs:us-east-1:12345678901:container-instance/c/3f1e",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/c/3f1e\0",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/c/3f1e/extra",
            "arn:aws:ec2:us-east-1:123456789012:container-instance/c/3f1e",
            "arn:aws:ecs:US-EAST-1:123456789012:container-instance/c/3f1e",
            "arn:aws:ecs:useast:123456789012:container-instance/c/3f1e",
            "arn:other:ecs:us-east-1:123456789012:container-instance/c/3f1e",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/",
            "arn:aws:ecs:us-east-1:123456789012:container-instance/c.d/3f1e",
        ] {
            assert!(ContainerInstanceArn::new(invalid).is_err(), "{invalid:?}");
        }
        assert!(
            TaskArn::new(
                "arn:aws:ecs:us-east-1:123456789012:task/1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"
            )
            .is_ok(),
            "old format"
        );
        let arn = ContainerInstanceArn::new(
            "arn:aws:ecs:eu-west-1:123456789012:container-instance/prod/3f1e",
        )
        .expect("valid");
        let parts = arn.parts().expect("parts");
        assert_eq!(
            (parts.partition, parts.region, parts.account, arn.id()),
            ("aws", "eu-west-1", "123456789012", "3f1e")
        );
    }

    #[test]
    fn a_refused_value_is_quoted_short_whatever_its_size() {
        let huge = format!("i-{}", "a".repeat(5_000_000));
        let error = Ec2InstanceId::new(huge).expect_err("too long");
        let message = error.to_string();
        assert!(message.len() < 1_000, "{} bytes", message.len());
        assert!(message.contains("5000002 characters"), "{message}");
        let controls = "\u{1b}[2J\0\n".repeat(1_000);
        let message = AsgName::new(controls).expect_err("controls").to_string();
        assert!(
            message.len() < 16 * 1024 && !message.contains('\n') && !message.contains('\u{1b}'),
            "{message}"
        );
    }

    #[test]
    fn cluster_name_comes_from_the_arn() {
        let arn = ClusterArn::new("arn:aws:ecs:us-east-1:123456789012:cluster/prod-cluster")
            .expect("valid");
        assert_eq!(arn.name(), "prod-cluster");
    }
}
