//! Table tests of early drains (Spot interruption, rebalance) and of a terminate action joining
//! one.

use super::*;

const SENT: Timestamp = Timestamp(3_000_000);

fn cluster(name: &str) -> ClusterArn {
    ClusterArn::new(format!("arn:aws:ecs:us-east-1:123456789012:cluster/{name}")).expect("arn")
}

fn instance(status: &str, watched: bool) -> EarlyInstance {
    EarlyInstance {
        cluster_arn: cluster(if watched { "prod" } else { "batch" }),
        watched,
        status: EcsInstanceStatus::parse(status),
    }
}

fn spot(action: InstanceAction) -> EarlyNotice {
    EarlyNotice {
        kind: EarlyDrainKind::Interruption,
        action: Some(action),
        sent_at: Some(SENT),
    }
}

fn rebalance() -> EarlyNotice {
    EarlyNotice {
        kind: EarlyDrainKind::Rebalance,
        action: None,
        sent_at: Some(SENT),
    }
}

fn service(name: &str, strategy: &str, min: Option<i32>) -> ServiceFacts {
    ServiceFacts {
        name: name.to_owned(),
        scheduling_strategy: Some(strategy.into()),
        minimum_healthy_percent: min,
        maximum_percent: Some(200),
    }
}

fn on() -> EarlyDrainPolicy {
    EarlyDrainPolicy {
        drain_on_rebalance: true,
        rebalance_deadline_seconds: 1800,
    }
}

#[test]
fn early_drain_table() {
    let now = SENT.plus_seconds(3);
    let services = vec![
        service("web", "REPLICA", Some(100)),
        service("api", "REPLICA", Some(50)),
        service("cache", "REPLICA", Some(150)),
        service("log-router", "DAEMON", Some(100)),
        service("web", "REPLICA", Some(100)),
    ];
    let flagged = vec!["cache".to_owned(), "web".to_owned()];
    let running = ExistingDrain {
        deadline: SENT.plus_seconds(3600),
        finished: false,
    };
    let soon = ExistingDrain {
        deadline: SENT.plus_seconds(60),
        finished: false,
    };
    let done = ExistingDrain {
        deadline: SENT,
        finished: true,
    };
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        &str,
        EarlyNotice,
        Option<EarlyInstance>,
        Option<ExistingDrain>,
        EarlyDrainPolicy,
        EarlyDecision,
    )> = vec![
        (
            "Spot warning on an ACTIVE instance: DRAINING at once, horizon two minutes, min>=100 replicas flagged",
            spot(InstanceAction::Terminate),
            Some(instance("ACTIVE", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Interruption,
                deadline: SENT.plus_seconds(120),
                set_draining: true,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "a stop warning drains the same way",
            spot(InstanceAction::Stop),
            Some(instance("ACTIVE", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Interruption,
                deadline: SENT.plus_seconds(120),
                set_draining: true,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "hibernation has no lead time: the deadline is the warning itself",
            spot(InstanceAction::Hibernate),
            Some(instance("ACTIVE", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Interruption,
                deadline: SENT,
                set_draining: true,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "already DRAINING by hand: record the drain, do not set it again",
            spot(InstanceAction::Terminate),
            Some(instance("DRAINING", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Interruption,
                deadline: SENT.plus_seconds(120),
                set_draining: false,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "a terminate drain runs already: join it and pull its deadline to the horizon",
            spot(InstanceAction::Terminate),
            Some(instance("DRAINING", true)),
            Some(running),
            EarlyDrainPolicy::default(),
            EarlyDecision::Join {
                deadline: SENT.plus_seconds(120),
                tightened: true,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "a drain with an earlier deadline keeps it",
            spot(InstanceAction::Terminate),
            Some(instance("DRAINING", true)),
            Some(soon),
            EarlyDrainPolicy::default(),
            EarlyDecision::Join {
                deadline: SENT.plus_seconds(60),
                tightened: false,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "the instance's drain already finished: nothing to do",
            spot(InstanceAction::Terminate),
            Some(instance("DRAINING", true)),
            Some(done),
            EarlyDrainPolicy::default(),
            EarlyDecision::Ignore(EarlyIgnore::DrainFinished),
        ),
        (
            "a finished drain of an instance ACTIVE again (back from a warm pool): a new drain",
            spot(InstanceAction::Terminate),
            Some(instance("ACTIVE", true)),
            Some(done),
            EarlyDrainPolicy::default(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Interruption,
                deadline: SENT.plus_seconds(120),
                set_draining: true,
                immovable_services: flagged.clone(),
            },
        ),
        (
            "not an ECS instance: ignored",
            spot(InstanceAction::Terminate),
            None,
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Ignore(EarlyIgnore::NotAnEcsInstance),
        ),
        (
            "an unwatched cluster: ignored, naming it",
            spot(InstanceAction::Terminate),
            Some(instance("ACTIVE", false)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Ignore(EarlyIgnore::UnwatchedCluster {
                cluster_arn: cluster("batch"),
            }),
        ),
        (
            "INACTIVE: nothing to drain",
            spot(InstanceAction::Terminate),
            Some(instance("INACTIVE", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Ignore(EarlyIgnore::NotDrainable {
                status: EcsInstanceStatus::Inactive,
            }),
        ),
        (
            "rebalance with the setting off (the default): ignored",
            rebalance(),
            Some(instance("ACTIVE", true)),
            None,
            EarlyDrainPolicy::default(),
            EarlyDecision::Ignore(EarlyIgnore::RebalanceDisabled),
        ),
        (
            "rebalance with the setting on: drain with the rebalance deadline, nothing flagged",
            rebalance(),
            Some(instance("ACTIVE", true)),
            None,
            on(),
            EarlyDecision::Start {
                kind: EarlyDrainKind::Rebalance,
                deadline: SENT.plus_seconds(1800),
                set_draining: true,
                immovable_services: Vec::new(),
            },
        ),
    ];
    for (story, notice, instance, existing, policy, expected) in rows {
        let decision = decide_early_drain(
            &notice,
            instance.as_ref(),
            existing.as_ref(),
            &services,
            &policy,
            now,
        );
        assert_eq!(decision, expected, "{story}");
    }
}

#[test]
fn the_horizon_counts_from_the_warning_never_from_a_late_delivery_or_a_clock_ahead() {
    let policy = EarlyDrainPolicy::default();
    let late = SENT.plus_seconds(300);
    assert_eq!(
        early_deadline(&spot(InstanceAction::Terminate), &policy, late),
        SENT.plus_seconds(120),
        "delivered late: the horizon has passed"
    );
    let behind = SENT.plus_seconds(-50);
    assert_eq!(
        early_deadline(&spot(InstanceAction::Terminate), &policy, behind),
        behind.plus_seconds(120),
        "a sent time ahead of our clock does not extend the horizon"
    );
    let untimed = EarlyNotice {
        sent_at: None,
        ..spot(InstanceAction::Terminate)
    };
    assert_eq!(
        early_deadline(&untimed, &policy, SENT),
        SENT.plus_seconds(120)
    );
}

#[test]
fn a_terminate_action_joins_the_early_drain() {
    let early = ExistingDrain {
        deadline: SENT.plus_seconds(120),
        finished: false,
    };
    assert_eq!(
        terminate_meets_early_drain(&early, SENT.plus_seconds(3600)),
        TerminateJoin::Attach {
            deadline: SENT.plus_seconds(120)
        }
    );
    assert_eq!(
        terminate_meets_early_drain(&early, SENT.plus_seconds(30)),
        TerminateJoin::Attach {
            deadline: SENT.plus_seconds(30)
        }
    );
    let finished = ExistingDrain {
        finished: true,
        ..early
    };
    assert_eq!(
        terminate_meets_early_drain(&finished, SENT.plus_seconds(3600)),
        TerminateJoin::StartAfresh
    );
}

#[test]
fn an_early_notice_rewrites_a_joined_drain_only_before_its_completion_is_under_way() {
    let rows = [
        ("draining", DrainStatus::Draining, false, true),
        (
            "draining, a completion sent with an unclear answer",
            DrainStatus::Draining,
            true,
            false,
        ),
        (
            "claimed for completion",
            DrainStatus::Completing,
            false,
            false,
        ),
        (
            "claimed again after an unclear send",
            DrainStatus::Completing,
            true,
            false,
        ),
        ("completed", DrainStatus::Completed, true, false),
        ("expired", DrainStatus::Expired, false, false),
    ];
    for (row, status, sent, rewrites) in rows {
        assert_eq!(early_join_rewrites(status, sent), rewrites, "{row}");
    }
}

#[test]
fn a_terminate_action_joins_only_a_drain_awaiting_an_action() {
    let lifecycle = crate::testing::sample::drain_record();
    let early = DrainRecord {
        awaiting_action: true,
        ..lifecycle.clone()
    };
    let ended_early = early.ended(early.started_at, DrainStatus::Completed, None, "-".into());
    let rows = [
        ("an early drain, open", &early, true),
        (
            "an early drain that ended (the join starts afresh over it)",
            &ended_early,
            true,
        ),
        ("a drain holding a lifecycle action", &lifecycle, false),
    ];
    for (row, record, joins) in rows {
        assert_eq!(terminate_joins_drain(record), joins, "{row}");
    }
}

#[test]
fn notices_convert_from_the_parsed_events() {
    let warning = SpotInterruption {
        instance_id: crate::ids::Ec2InstanceId::new("i-0598c7d356eba48d7").expect("id"),
        action: InstanceAction::Stop,
        sent_at: Some(SENT),
        account: None,
        region: None,
        replay_name: None,
    };
    assert_eq!(EarlyNotice::from(&warning), spot(InstanceAction::Stop));
    let recommendation = RebalanceRecommendation {
        instance_id: warning.instance_id.clone(),
        sent_at: Some(SENT),
        account: None,
        region: None,
        replay_name: None,
    };
    assert_eq!(EarlyNotice::from(&recommendation), rebalance());
    assert_eq!(EarlyDrainKind::Interruption.as_str(), "interruption");
}

#[test]
fn an_early_notice_is_believed_only_within_its_horizon_and_the_clock_skew() {
    let off = EarlyDrainPolicy::default();
    let long_graceful_phase = EarlyDrainPolicy {
        rebalance_deadline_seconds: 172_800,
        ..on()
    };
    let undated = |notice: EarlyNotice| EarlyNotice {
        sent_at: None,
        ..notice
    };
    let stale = |kind, age_seconds, horizon_seconds| {
        Err(UnbelievedNotice::Stale {
            kind,
            age_seconds,
            horizon_seconds,
        })
    };
    let interruption = EarlyDrainKind::Interruption;
    let rebalance_kind = EarlyDrainKind::Rebalance;
    #[allow(clippy::type_complexity)]
    let rows: Vec<(
        &str,
        EarlyNotice,
        EarlyDrainPolicy,
        i64,
        Result<(), UnbelievedNotice>,
    )> = vec![
        (
            "a warning just sent",
            spot(InstanceAction::Terminate),
            off,
            1,
            Ok(()),
        ),
        (
            "a warning at its horizon",
            spot(InstanceAction::Terminate),
            off,
            120,
            Ok(()),
        ),
        (
            "a warning at its horizon plus the skew",
            spot(InstanceAction::Terminate),
            off,
            130,
            Ok(()),
        ),
        (
            "a warning a second past horizon and skew: history",
            spot(InstanceAction::Terminate),
            off,
            131,
            stale(interruption, 131, 120),
        ),
        (
            "a warning replayed from the archive a day later",
            spot(InstanceAction::Stop),
            off,
            86_400,
            stale(interruption, 86_400, 120),
        ),
        (
            "hibernation is judged by the same two minutes",
            spot(InstanceAction::Hibernate),
            off,
            200,
            stale(interruption, 200, 120),
        ),
        (
            "dated ahead within the skew: counts as sent now",
            spot(InstanceAction::Terminate),
            off,
            -10,
            Ok(()),
        ),
        (
            "dated ahead beyond the skew: not believed",
            spot(InstanceAction::Terminate),
            off,
            -11,
            Err(UnbelievedNotice::Ahead {
                kind: interruption,
                ahead_seconds: 11,
            }),
        ),
        (
            "a warning without a time",
            undated(spot(InstanceAction::Terminate)),
            off,
            0,
            Err(UnbelievedNotice::Undated { kind: interruption }),
        ),
        (
            "a recommendation half an hour old (deadline 1800 s)",
            rebalance(),
            on(),
            1810,
            Ok(()),
        ),
        (
            "a recommendation older than its drain's deadline",
            rebalance(),
            on(),
            1811,
            stale(rebalance_kind, 1811, 1800),
        ),
        (
            "a recommendation an hour old, long graceful phase",
            rebalance(),
            long_graceful_phase,
            3610,
            Ok(()),
        ),
        (
            "a recommendation past the stack's delivery window, long graceful phase",
            rebalance(),
            long_graceful_phase,
            3611,
            stale(rebalance_kind, 3611, 3600),
        ),
        (
            "a recommendation without a time",
            undated(rebalance()),
            on(),
            0,
            Err(UnbelievedNotice::Undated {
                kind: rebalance_kind,
            }),
        ),
    ];
    for (story, notice, policy, age, expected) in rows {
        let now = SENT.plus_seconds(age);
        assert_eq!(
            believe_early_notice(&notice, &policy, now),
            expected,
            "{story}"
        );
    }
}

#[test]
fn an_unbelieved_notice_says_why_in_a_bounded_line() {
    let reasons = [
        UnbelievedNotice::Undated {
            kind: EarlyDrainKind::Interruption,
        },
        UnbelievedNotice::Ahead {
            kind: EarlyDrainKind::Rebalance,
            ahead_seconds: i64::MAX,
        },
        UnbelievedNotice::Stale {
            kind: EarlyDrainKind::Interruption,
            age_seconds: i64::MAX,
            horizon_seconds: 120,
        },
    ];
    let names: Vec<&str> = reasons.iter().map(UnbelievedNotice::name).collect();
    assert_eq!(
        names,
        ["undated_notice", "notice_ahead_of_clock", "stale_notice"]
    );
    for reason in &reasons {
        let text = reason.describe();
        assert!(text.len() < 160, "{text}");
        assert!(!text.contains("  "), "no run of spaces: {text}");
        assert!(
            text.contains(if matches!(reason, UnbelievedNotice::Ahead { .. }) {
                "rebalance"
            } else {
                "interruption"
            }),
            "{text}"
        );
    }
}
