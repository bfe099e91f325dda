//! Trust no notice: the pure rules deciding whether a lifecycle notice may change anything, and
//! what to do with the container instance once a drain's lifecycle action turns out to be gone.
//!
//! A notice is only a claim. EventBridge refuses `aws.*` sources from PutEvents, but an SNS
//! message or a direct invoke can say anything, so before ecs-drain drains (or completes) an
//! instance, Auto Scaling itself must say that the instance is in the notice's group and waiting
//! on a terminate hook (DescribeAutoScalingInstances). These functions take what Auto Scaling
//! said and return the verdict; the drainer asks, logs and obeys.

use crate::decision::spot::UnbelievedNotice;
use crate::ids::{AsgName, quoted};
use crate::ports::{AsgInstanceState, EcsInstanceStatus};

/// The function's own account and region, against which a notice's `account` / `region` are
/// checked. A part left `None` is unknown (no check is possible for it).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionIdentity {
    /// The 12-digit account id, from the invoked function's ARN.
    pub account: Option<String>,
    /// The region, from the SDK configuration (`AWS_REGION`).
    pub region: Option<String>,
}

impl FunctionIdentity {
    /// The identity of the function whose ARN is `invoked_function_arn`
    /// (`arn:<partition>:lambda:<region>:<account>:function:<name>[:<qualifier>]`), with the
    /// region from the SDK configuration when known. Parts that do not parse stay unknown.
    pub fn from_function_arn(
        invoked_function_arn: &str,
        sdk_region: Option<&str>,
    ) -> FunctionIdentity {
        let parts: Vec<&str> = invoked_function_arn.splitn(7, ':').collect();
        let (arn_region, arn_account) = match parts.as_slice() {
            ["arn", _, "lambda", region, account, "function", _] => (Some(*region), Some(*account)),
            _ => (None, None),
        };
        let account = arn_account
            .filter(|account| account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_owned);
        let region = sdk_region
            .or(arn_region)
            .filter(|region| !region.is_empty())
            .map(str::to_owned);
        FunctionIdentity { account, region }
    }
}

/// Why a notice is refused: nothing is changed for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The notice names another account than the function's own.
    ForeignAccount {
        /// The notice's account (bounded for logs).
        notice: String,
        /// The function's account.
        own: String,
    },
    /// The notice names another region than the function's own.
    ForeignRegion {
        /// The notice's region (bounded for logs).
        notice: String,
        /// The function's region.
        own: String,
    },
    /// Auto Scaling does not know the instance (never in a group, or already gone).
    NotInAnyGroup,
    /// Auto Scaling has the instance in another group than the notice says.
    OtherGroup {
        /// The group Auto Scaling reports (bounded for logs).
        actual: String,
    },
    /// The instance is not waiting on a terminate hook.
    NotTerminating {
        /// Its lifecycle state (bounded for logs).
        state: String,
    },
    /// The instance is not waiting on a launch hook.
    NotLaunching {
        /// Its lifecycle state (bounded for logs).
        state: String,
    },
    /// An early notice (Spot warning, rebalance recommendation) whose own time says it is not
    /// about the instance's present (`decision::spot::believe_early_notice`).
    Unbelieved(UnbelievedNotice),
}

impl Refusal {
    /// A stable short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Refusal::ForeignAccount { .. } => "foreign_account",
            Refusal::ForeignRegion { .. } => "foreign_region",
            Refusal::NotInAnyGroup => "not_in_any_group",
            Refusal::OtherGroup { .. } => "other_group",
            Refusal::NotTerminating { .. } => "not_terminating",
            Refusal::NotLaunching { .. } => "not_launching",
            Refusal::Unbelieved(why) => why.name(),
        }
    }

    /// The reason in words, for the log line and the report.
    pub fn describe(&self) -> String {
        match self {
            Refusal::ForeignAccount { notice, own } => {
                format!("the notice is for account {notice}, this function runs in {own}")
            }
            Refusal::ForeignRegion { notice, own } => {
                format!("the notice is for region {notice}, this function runs in {own}")
            }
            Refusal::NotInAnyGroup => {
                "auto scaling reports the instance in no group (unknown or already gone)".to_owned()
            }
            Refusal::OtherGroup { actual } => {
                format!("auto scaling reports the instance in group {actual}, not the notice's")
            }
            Refusal::NotTerminating { state } => format!(
                "auto scaling reports the instance {state}, not waiting on a terminate hook"
            ),
            Refusal::NotLaunching { state } => {
                format!("auto scaling reports the instance {state}, not waiting on a launch hook")
            }
            Refusal::Unbelieved(why) => why.describe(),
        }
    }
}

/// The notice's `account` and `region`, when it carries them, must be the function's own: a
/// notice for another account or region would otherwise drain a local instance of the same id.
pub fn verify_origin(
    notice_account: Option<&str>,
    notice_region: Option<&str>,
    own: &FunctionIdentity,
) -> Result<(), Refusal> {
    if let (Some(notice), Some(own)) = (notice_account, own.account.as_deref())
        && notice != own
    {
        return Err(Refusal::ForeignAccount {
            notice: quoted(notice),
            own: own.to_owned(),
        });
    }
    if let (Some(notice), Some(own)) = (notice_region, own.region.as_deref())
        && notice != own
    {
        return Err(Refusal::ForeignRegion {
            notice: quoted(notice),
            own: own.to_owned(),
        });
    }
    Ok(())
}

/// The instance must be in the notice's group and held by a terminate hook, as Auto Scaling
/// reports it, before ecs-drain sets it DRAINING or completes its lifecycle action.
pub fn verify_termination(
    claimed_group: &AsgName,
    state: Option<&AsgInstanceState>,
) -> Result<(), Refusal> {
    verify_group(claimed_group, state, Hook::Terminate)
}

/// The instance must be in the notice's group and held by a launch hook (Pending:Wait, or
/// Warmed:Pending:Wait), as Auto Scaling reports it, before ecs-drain records a pending launch.
pub fn verify_launch(
    claimed_group: &AsgName,
    state: Option<&AsgInstanceState>,
) -> Result<(), Refusal> {
    verify_group(claimed_group, state, Hook::Launch)
}

/// The kind of lifecycle hook that must hold the instance.
#[derive(Clone, Copy)]
enum Hook {
    Launch,
    Terminate,
}

/// In the claimed group, and waiting on a `hook` of that kind; any other state is refused.
fn verify_group(
    claimed_group: &AsgName,
    state: Option<&AsgInstanceState>,
    hook: Hook,
) -> Result<(), Refusal> {
    let Some(state) = state else {
        return Err(Refusal::NotInAnyGroup);
    };
    if state.group != claimed_group.as_str() {
        return Err(Refusal::OtherGroup {
            actual: quoted(&state.group),
        });
    }
    let lifecycle_state = &state.lifecycle_state;
    let (holds, refuse): (bool, fn(String) -> Refusal) = match hook {
        Hook::Launch => (lifecycle_state.is_launch_wait(), |state| {
            Refusal::NotLaunching { state }
        }),
        Hook::Terminate => (lifecycle_state.is_terminate_wait(), |state| {
            Refusal::NotTerminating { state }
        }),
    };
    if !holds {
        return Err(refuse(quoted(lifecycle_state.as_str())));
    }
    Ok(())
}

/// What to do with the container instance once its drain's lifecycle action is found gone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AfterExpiry {
    /// The instance is on its way out (or gone): leave it as it is.
    Leave {
        /// Why, for the record.
        reason: String,
    },
    /// The instance is not being terminated: the action never existed or was abandoned while
    /// the instance stays in service. Put the container instance back to ACTIVE, or its
    /// capacity is lost for good.
    RestoreActive {
        /// Why, for the record.
        reason: String,
    },
}

/// Decides the follow-up of an EXPIRED drain from the instance's lifecycle state
/// (DescribeAutoScalingInstances) and its container instance's ECS status.
///
/// See also [`expired_undrained`], which says whether the expiry counts as a drain lost.
pub fn after_expiry(
    state: Option<&AsgInstanceState>,
    container_status: Option<&EcsInstanceStatus>,
) -> AfterExpiry {
    let Some(state) = state else {
        return AfterExpiry::Leave {
            reason: "the lifecycle action is gone and the instance has left its group".to_owned(),
        };
    };
    let lifecycle = state.lifecycle_state.as_str();
    // Terminating:*, Terminated and the warm pool's Warmed:Terminating*: it is going away.
    if state.lifecycle_state.is_going_away() {
        return AfterExpiry::Leave {
            reason: format!(
                "the lifecycle action is gone and the instance is {} (timed out)",
                quoted(lifecycle)
            ),
        };
    }
    match container_status {
        Some(EcsInstanceStatus::Draining) => AfterExpiry::RestoreActive {
            reason: format!(
                "the lifecycle action is gone but the instance is {}: the container instance was put back to ACTIVE",
                quoted(lifecycle)
            ),
        },
        Some(status) => AfterExpiry::Leave {
            reason: format!(
                "the lifecycle action is gone, the instance is {} and its container instance {}",
                quoted(lifecycle),
                quoted(status.as_str())
            ),
        },
        None => AfterExpiry::Leave {
            reason: format!(
                "the lifecycle action is gone, the instance is {}, no container instance",
                quoted(lifecycle)
            ),
        },
    }
}

/// Whether an expired drain means the hook ran out first and the instance goes (or went)
/// undrained: it has left its group or is terminating. An action that never existed for an
/// instance that stays is not a lost drain (the expired-drains metric counts only the former).
pub fn expired_undrained(state: Option<&AsgInstanceState>) -> bool {
    state.is_none_or(|state| state.lifecycle_state.is_going_away())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::LifecycleState;

    #[test]
    fn an_expiry_counts_as_a_lost_drain_only_when_the_instance_goes() {
        let cases = [
            (None, true),
            (Some(state("g", "Terminating:Wait")), true),
            (Some(state("g", "Terminating:Proceed")), true),
            (Some(state("g", "Warmed:Terminating:Wait")), true),
            (Some(state("g", "InService")), false),
            (Some(state("g", "Standby")), false),
        ];
        for (state, expected) in cases {
            assert_eq!(expired_undrained(state.as_ref()), expected, "{state:?}");
        }
    }

    fn state(group: &str, lifecycle_state: &str) -> AsgInstanceState {
        AsgInstanceState {
            group: group.to_owned(),
            lifecycle_state: LifecycleState::parse(lifecycle_state),
        }
    }

    #[test]
    fn every_lifecycle_state_reads_back_as_the_text_auto_scaling_wrote() {
        for text in [
            "InService",
            "Terminating",
            "Terminating:Wait",
            "Terminating:Proceed",
            "Terminated",
            "Warmed:Terminating",
            "Warmed:Terminating:Wait",
            "Warmed:Terminating:Proceed",
            "Warmed:Terminated",
            "Standby",
            "",
        ] {
            assert_eq!(LifecycleState::parse(text).as_str(), text);
        }
        assert_eq!(
            LifecycleState::parse("terminating:wait"),
            LifecycleState::Other("terminating:wait".into()),
            "exact text only"
        );
        assert!(LifecycleState::parse("Terminating:Retained").is_going_away());
        assert!(!LifecycleState::parse("Warmed:Running").is_going_away());
    }

    fn group() -> AsgName {
        AsgName::new("prod-ecs-asg").expect("valid group name")
    }

    #[test]
    fn only_an_instance_waiting_on_a_terminate_hook_of_the_named_group_passes() {
        // (group, lifecycle state) as Auto Scaling reports them, by the verdict they get.
        let passing = [
            ("prod-ecs-asg", "Terminating:Wait"),
            ("prod-ecs-asg", "Warmed:Terminating:Wait"),
        ];
        let not_terminating = [
            "InService",
            "Terminating:Proceed",
            "Terminated",
            "Pending:Wait",
            "Standby",
            "Warmed:Running",
        ]
        .map(|lifecycle_state| ("prod-ecs-asg", lifecycle_state));
        let other_group = [
            ("other-asg", "Terminating:Wait"),
            ("prod-ecs-asg ", "Terminating:Wait"),
        ];
        let table = [
            (&passing[..], Ok(())),
            (&not_terminating[..], Err("not_terminating")),
            (&other_group[..], Err("other_group")),
        ];
        for (reports, expected) in table {
            for &(group_name, lifecycle_state) in reports {
                let reported = state(group_name, lifecycle_state);
                let verdict =
                    verify_termination(&group(), Some(&reported)).map_err(|refusal| refusal.name());
                assert_eq!(verdict, expected, "{reported:?}");
            }
        }
        assert_eq!(
            verify_termination(&group(), None).map_err(|refusal| refusal.name()),
            Err("not_in_any_group")
        );
    }

    #[test]
    fn a_notice_for_another_account_or_region_is_refused() {
        let own = FunctionIdentity {
            account: Some("123456789012".into()),
            region: Some("us-east-1".into()),
        };
        assert_eq!(
            verify_origin(Some("123456789012"), Some("us-east-1"), &own),
            Ok(())
        );
        assert_eq!(verify_origin(None, None, &own), Ok(()));
        assert_eq!(
            verify_origin(Some("210987654321"), Some("us-east-1"), &own).map_err(|r| r.name()),
            Err("foreign_account")
        );
        assert_eq!(
            verify_origin(Some("123456789012"), Some("eu-west-1"), &own).map_err(|r| r.name()),
            Err("foreign_region")
        );
        // Unknown own parts cannot be compared.
        assert_eq!(
            verify_origin(
                Some("210987654321"),
                Some("eu-west-1"),
                &FunctionIdentity::default()
            ),
            Ok(())
        );
        let long = "9".repeat(100_000);
        let refusal = verify_origin(Some(&long), None, &own).expect_err("foreign");
        assert!(
            refusal.describe().len() < 1_000,
            "the quoted value is bounded"
        );
    }

    #[test]
    fn the_function_identity_comes_from_its_arn_and_the_sdk_region() {
        let identity = FunctionIdentity::from_function_arn(
            "arn:aws:lambda:eu-west-1:123456789012:function:on-lifecycle",
            None,
        );
        assert_eq!(
            identity,
            FunctionIdentity {
                account: Some("123456789012".into()),
                region: Some("eu-west-1".into())
            }
        );
        let identity = FunctionIdentity::from_function_arn(
            "arn:aws:lambda:eu-west-1:123456789012:function:on-lifecycle:live",
            Some("us-east-1"),
        );
        assert_eq!(
            identity,
            FunctionIdentity {
                account: Some("123456789012".into()),
                region: Some("us-east-1".into())
            }
        );
        assert_eq!(
            FunctionIdentity::from_function_arn("not an arn", None),
            FunctionIdentity::default()
        );
    }

    #[test]
    fn an_expired_drain_gives_back_capacity_only_when_the_instance_stays() {
        let table: [(Option<AsgInstanceState>, Option<&str>, bool); 9] = [
            (Some(state("g", "InService")), Some("DRAINING"), true),
            (Some(state("g", "Standby")), Some("DRAINING"), true),
            (Some(state("g", "Warmed:Running")), Some("DRAINING"), true),
            (Some(state("g", "InService")), Some("ACTIVE"), false),
            (Some(state("g", "InService")), None, false),
            (
                Some(state("g", "Terminating:Wait")),
                Some("DRAINING"),
                false,
            ),
            (
                Some(state("g", "Terminating:Proceed")),
                Some("DRAINING"),
                false,
            ),
            (
                Some(state("g", "Warmed:Terminating:Proceed")),
                Some("DRAINING"),
                false,
            ),
            (None, Some("DRAINING"), false),
        ];
        for (reported, status, restore) in table {
            let status = status.map(EcsInstanceStatus::parse);
            let follow_up = after_expiry(reported.as_ref(), status.as_ref());
            assert_eq!(
                matches!(follow_up, AfterExpiry::RestoreActive { .. }),
                restore,
                "{reported:?} {status:?}: {follow_up:?}"
            );
        }
    }
}
