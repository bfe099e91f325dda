//! The preflight rules `drainctl doctor` applies, pure: from the facts drainctl read about a
//! cluster and its Auto Scaling groups, the findings that would make a drain impossible, slow,
//! cut short or unsafe, ranked, each with its fix.

use serde::Serialize;

use crate::config::ECS_MANAGED_DRAINING_HOOK;
use crate::decision::DeadlinePolicy;

/// The lifecycle transition ecs-drain's hook must have.
pub const TERMINATING: &str = "autoscaling:EC2_INSTANCE_TERMINATING";

/// The load balancer deregistration delay assumed when it was not read (ELBv2's default).
pub const DEFAULT_DEREGISTRATION_DELAY_SECONDS: i64 = 300;

/// The ECS agent's stop timeout when a container sets none.
pub const DEFAULT_STOP_TIMEOUT_SECONDS: i64 = 30;

/// One service as drainctl read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceCheck {
    /// The service name.
    pub name: String,
    /// DAEMON services are stopped by ecs-drain itself, not moved.
    pub daemon: bool,
    /// desiredCount.
    pub desired: i32,
    /// deploymentConfiguration.minimumHealthyPercent (ECS's default 100 when unset).
    pub minimum_healthy_percent: i32,
    /// deploymentConfiguration.maximumPercent (ECS's default 200 when unset).
    pub maximum_percent: i32,
    /// The longest container stopTimeout of its task definition, in seconds.
    pub longest_stop_timeout_seconds: i64,
    /// Whether it registers with a load balancer.
    pub load_balanced: bool,
    /// Its target groups' longest deregistration delay, when read.
    pub deregistration_delay_seconds: Option<i64>,
}

/// One lifecycle hook of a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookCheck {
    /// The hook name.
    pub name: String,
    /// Its transition.
    pub transition: String,
    /// CONTINUE or ABANDON.
    pub default_result: String,
    /// Its heartbeat timeout, in seconds.
    pub heartbeat_timeout_seconds: i64,
}

/// One Auto Scaling group as drainctl read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupCheck {
    /// The group name.
    pub name: String,
    /// Its lifecycle hooks.
    pub hooks: Vec<HookCheck>,
    /// Whether its instance lifecycle policy retains instances whose terminate hook was
    /// abandoned (`RetentionTriggers.TerminateHookAbandon: retain`).
    pub retains_abandoned: bool,
}

/// Capacity of one ACTIVE container instance (CPU units, MiB).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceRoom {
    /// The EC2 instance id.
    pub ec2_instance_id: String,
    /// CPU units its tasks use.
    pub used_cpu: i64,
    /// MiB its tasks use.
    pub used_memory: i64,
    /// CPU units still free.
    pub free_cpu: i64,
    /// MiB still free.
    pub free_memory: i64,
}

/// Everything the preflight looks at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PreflightFacts {
    /// The cluster's services.
    pub services: Vec<ServiceCheck>,
    /// The groups behind the cluster.
    pub groups: Vec<GroupCheck>,
    /// The cluster's ACTIVE container instances.
    pub instances: Vec<InstanceRoom>,
    /// ecs-drain's hook name, when known (the stack's HookName); otherwise any terminate hook
    /// but ECS managed draining's counts.
    pub hook_name: Option<String>,
    /// The stack's deadline policy, when known.
    pub deadline_policy: Option<DeadlinePolicy>,
}

/// How bad a finding is; findings are listed worst first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Drains cannot work at all.
    Critical,
    /// Drains end undrained or never finish on their own.
    High,
    /// Drains are slow or lose something.
    Medium,
}

/// One problem and its fix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad.
    pub severity: Severity,
    /// A stable name for scripts (e.g. `service_cannot_move`).
    pub code: &'static str,
    /// What it is about (a service, group or instance).
    pub subject: String,
    /// What is wrong.
    pub problem: String,
    /// What to change.
    pub fix: String,
}

fn finding(
    severity: Severity,
    code: &'static str,
    subject: &str,
    problem: String,
    fix: String,
) -> Finding {
    Finding {
        severity,
        code,
        subject: subject.to_owned(),
        problem,
        fix,
    }
}

fn service_findings(service: &ServiceCheck, findings: &mut Vec<Finding>) {
    if service.daemon || service.desired == 0 {
        return;
    }
    let (min, max) = (service.minimum_healthy_percent, service.maximum_percent);
    if min >= 100 && max <= 100 {
        findings.push(finding(
            Severity::High,
            "service_cannot_move",
            &service.name,
            format!(
                "minimumHealthyPercent {min} and maximumPercent {max}: ECS may neither stop a task before its replacement runs nor start one more, so a draining instance keeps its tasks until the deadline"
            ),
            "lower minimumHealthyPercent (e.g. 50) or raise maximumPercent (e.g. 200)".to_owned(),
        ));
    } else if min >= 100 && max < 200 {
        findings.push(finding(
            Severity::Medium,
            "service_moves_slowly",
            &service.name,
            format!(
                "minimumHealthyPercent {min} and maximumPercent {max}: ECS moves at most {}% of the tasks at a time, each batch waiting for the last to be healthy",
                max - 100
            ),
            "raise maximumPercent to 200, or lower minimumHealthyPercent".to_owned(),
        ));
    }
}

/// The seconds a task may need to leave: its stop timeout plus its load balancer's
/// deregistration delay (assumed at ELBv2's default when not read).
fn leave_seconds(service: &ServiceCheck) -> i64 {
    let delay = if service.load_balanced {
        service
            .deregistration_delay_seconds
            .unwrap_or(DEFAULT_DEREGISTRATION_DELAY_SECONDS)
    } else {
        0
    };
    service.longest_stop_timeout_seconds + delay
}

fn group_findings(facts: &PreflightFacts, group: &GroupCheck, findings: &mut Vec<Finding>) {
    if group
        .hooks
        .iter()
        .any(|hook| hook.name == ECS_MANAGED_DRAINING_HOOK)
    {
        findings.push(finding(
            Severity::High,
            "managed_draining_too",
            &group.name,
            "ECS managed instance draining also holds this group's terminations: two drainers act on the same instances".to_owned(),
            "turn off managed draining on the capacity provider (managedDraining DISABLED), or leave this group out of ecs-drain".to_owned(),
        ));
    }
    let ours: Vec<&HookCheck> = group
        .hooks
        .iter()
        .filter(|hook| {
            hook.transition == TERMINATING
                && match &facts.hook_name {
                    Some(name) => &hook.name == name,
                    None => hook.name != ECS_MANAGED_DRAINING_HOOK,
                }
        })
        .collect();
    let Some(hook) = ours.first() else {
        findings.push(finding(
            Severity::Critical,
            "hook_missing",
            &group.name,
            format!(
                "no {} terminate lifecycle hook: instances terminate at once, tasks and all",
                facts.hook_name.as_deref().unwrap_or("ecs-drain")
            ),
            "deploy the stack with CreateLifecycleHooks=true, or put the hook on the group"
                .to_owned(),
        ));
        return;
    };
    if hook.default_result != "CONTINUE" {
        findings.push(finding(
            Severity::Medium,
            "hook_default_result",
            &group.name,
            format!(
                "hook {} has DefaultResult {}: when ecs-drain cannot act it also skips the group's other terminate hooks",
                hook.name, hook.default_result
            ),
            "set DefaultResult CONTINUE (the template's)".to_owned(),
        ));
    }
    if let Some(slowest) = facts
        .services
        .iter()
        .max_by_key(|service| leave_seconds(service))
    {
        let needed = leave_seconds(slowest);
        if hook.heartbeat_timeout_seconds < needed {
            let assumed = if slowest.load_balanced && slowest.deregistration_delay_seconds.is_none()
            {
                " (deregistration delay not read: ELBv2's default assumed)"
            } else {
                ""
            };
            findings.push(finding(
                Severity::High,
                "heartbeat_too_short",
                &group.name,
                format!(
                    "hook {} heartbeat timeout {} s is shorter than service {}'s stopTimeout plus deregistration delay, {needed} s{assumed}: one missed check and the hook gives up mid-shutdown",
                    hook.name, hook.heartbeat_timeout_seconds, slowest.name
                ),
                format!("set HeartbeatTimeoutSeconds to at least {}", needed + 60),
            ));
        }
    }
    if facts.deadline_policy == Some(DeadlinePolicy::Abandon) && !group.retains_abandoned {
        findings.push(finding(
            Severity::Medium,
            "abandon_without_retention",
            &group.name,
            "DeadlinePolicy abandon, but the group has no instance lifecycle policy retaining abandoned instances: they terminate anyway, with their tasks".to_owned(),
            "add InstanceLifecyclePolicy RetentionTriggers TerminateHookAbandon: retain, or use DeadlinePolicy continue".to_owned(),
        ));
    }
}

fn room_findings(instances: &[InstanceRoom], findings: &mut Vec<Finding>) {
    let Some(largest) = instances
        .iter()
        .max_by_key(|instance| (instance.used_cpu, instance.used_memory))
    else {
        return;
    };
    let others = instances
        .iter()
        .filter(|instance| instance.ec2_instance_id != largest.ec2_instance_id);
    let (free_cpu, free_memory) = others.fold((0, 0), |(cpu, memory), instance| {
        (cpu + instance.free_cpu, memory + instance.free_memory)
    });
    if largest.used_cpu > free_cpu || largest.used_memory > free_memory {
        findings.push(finding(
            Severity::High,
            "no_room",
            &largest.ec2_instance_id,
            format!(
                "its tasks use {} CPU units and {} MiB; the other instances have {free_cpu} CPU units and {free_memory} MiB free: its tasks cannot all be re-placed",
                largest.used_cpu, largest.used_memory
            ),
            "add capacity before scaling in (a capacity provider with managed scaling launches it), or scale in fewer instances at a time".to_owned(),
        ));
    }
}

/// The findings for `facts`, worst first.
pub fn preflight(facts: &PreflightFacts) -> Vec<Finding> {
    let mut findings = Vec::new();
    for service in &facts.services {
        service_findings(service, &mut findings);
    }
    for group in &facts.groups {
        group_findings(facts, group, &mut findings);
    }
    room_findings(&facts.instances, &mut findings);
    findings.sort_by_key(|finding| finding.severity);
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(name: &str, min: i32, max: i32) -> ServiceCheck {
        ServiceCheck {
            name: name.into(),
            daemon: false,
            desired: 2,
            minimum_healthy_percent: min,
            maximum_percent: max,
            longest_stop_timeout_seconds: 30,
            load_balanced: false,
            deregistration_delay_seconds: None,
        }
    }

    fn hook(name: &str, timeout: i64) -> HookCheck {
        HookCheck {
            name: name.into(),
            transition: TERMINATING.into(),
            default_result: "CONTINUE".into(),
            heartbeat_timeout_seconds: timeout,
        }
    }

    fn room(id: &str, used: i64, free: i64) -> InstanceRoom {
        InstanceRoom {
            ec2_instance_id: id.into(),
            used_cpu: used,
            used_memory: used,
            free_cpu: free,
            free_memory: free,
        }
    }

    /// A healthy setup: one movable service, our hook, room to spare.
    fn healthy() -> PreflightFacts {
        PreflightFacts {
            services: vec![service("web", 50, 200)],
            groups: vec![GroupCheck {
                name: "asg".into(),
                hooks: vec![hook("ecs-drain-terminate", 300)],
                retains_abandoned: false,
            }],
            instances: vec![room("i-1", 512, 512), room("i-2", 512, 1024)],
            hook_name: Some("ecs-drain-terminate".into()),
            deadline_policy: Some(DeadlinePolicy::Continue),
        }
    }

    fn codes(facts: &PreflightFacts) -> Vec<&'static str> {
        preflight(facts)
            .into_iter()
            .map(|finding| finding.code)
            .collect()
    }

    #[test]
    fn each_problem_is_found_alone() {
        type Change = fn(&mut PreflightFacts);
        let cases: Vec<(&str, Change, Vec<&str>)> = vec![
            ("healthy", |_| {}, vec![]),
            (
                "100/100",
                |f| f.services[0] = service("pinned", 100, 100),
                vec!["service_cannot_move"],
            ),
            (
                "100/150",
                |f| f.services[0] = service("slow", 100, 150),
                vec!["service_moves_slowly"],
            ),
            (
                "a 100/100 daemon is ecs-drain's to stop",
                |f| {
                    f.services[0] = ServiceCheck {
                        daemon: true,
                        ..service("agent", 100, 100)
                    }
                },
                vec![],
            ),
            (
                "hook missing",
                |f| f.groups[0].hooks.clear(),
                vec!["hook_missing"],
            ),
            (
                "another hook only",
                |f| f.groups[0].hooks = vec![hook("other", 300)],
                vec!["hook_missing"],
            ),
            (
                "managed draining",
                |f| {
                    f.groups[0]
                        .hooks
                        .push(hook(ECS_MANAGED_DRAINING_HOOK, 3600))
                },
                vec!["managed_draining_too"],
            ),
            (
                "default ABANDON",
                |f| f.groups[0].hooks[0].default_result = "ABANDON".into(),
                vec!["hook_default_result"],
            ),
            (
                "long stop timeout",
                |f| f.services[0].longest_stop_timeout_seconds = 600,
                vec!["heartbeat_too_short"],
            ),
            (
                "load balancer delay assumed",
                |f| f.services[0].load_balanced = true,
                vec!["heartbeat_too_short"],
            ),
            (
                "load balancer delay read",
                |f| {
                    f.services[0].load_balanced = true;
                    f.services[0].deregistration_delay_seconds = Some(30);
                },
                vec![],
            ),
            (
                "abandon without retention",
                |f| f.deadline_policy = Some(DeadlinePolicy::Abandon),
                vec!["abandon_without_retention"],
            ),
            (
                "abandon with retention",
                |f| {
                    f.deadline_policy = Some(DeadlinePolicy::Abandon);
                    f.groups[0].retains_abandoned = true;
                },
                vec![],
            ),
            (
                "no room",
                |f| f.instances = vec![room("i-1", 2048, 0), room("i-2", 512, 1024)],
                vec!["no_room"],
            ),
        ];
        for (name, change, expected) in cases {
            let mut facts = healthy();
            change(&mut facts);
            assert_eq!(codes(&facts), expected, "{name}");
        }
    }

    #[test]
    fn findings_are_ranked_worst_first_and_name_their_fix() {
        let mut facts = healthy();
        facts.services.push(service("slow", 100, 150));
        facts.groups[0].hooks.clear();
        let findings = preflight(&facts);
        assert_eq!(
            findings
                .iter()
                .map(|f| (f.severity, f.code))
                .collect::<Vec<_>>(),
            vec![
                (Severity::Critical, "hook_missing"),
                (Severity::Medium, "service_moves_slowly")
            ]
        );
        assert!(findings[0].fix.contains("CreateLifecycleHooks=true"));
    }

    #[test]
    fn the_heartbeat_fix_names_a_timeout_that_covers_the_slowest_task() {
        let mut facts = healthy();
        facts.services[0].longest_stop_timeout_seconds = 600;
        let findings = preflight(&facts);
        assert_eq!(
            findings[0].fix,
            "set HeartbeatTimeoutSeconds to at least 660"
        );
    }
}
