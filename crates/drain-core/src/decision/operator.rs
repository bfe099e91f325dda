//! The operator's decisions, pure: whether a drain is overdue, and what a force-complete, an
//! extension or a cancel does to a drain record (drainctl runs them through
//! [`crate::operator`], which does the I/O).
//!
//! An operator acts through the same state machine as the functions: a completion takes the
//! COMPLETING claim with a conditional write first, so an operator and an invocation can never
//! both complete one lifecycle action, and every action leaves an [`AuditEntry`] on the record.

use serde::{Deserialize, Serialize};

use crate::ports::ActionAnswer;
use crate::record::{DrainPhase, DrainRecord, DrainStatus, LifecycleResult};
use crate::time::Timestamp;

/// How late a booked check or the deadline may be before the drain counts as overdue: the
/// scheduler fires within a minute, and Lambda's asynchronous queue adds seconds.
pub const OVERDUE_GRACE_SECONDS: i64 = 120;

/// Audit entries kept on a record; older ones are dropped so the item stays small.
pub const MAX_AUDIT_ENTRIES: usize = 20;

/// Why a live drain is overdue: something should have happened and nothing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Overdue {
    /// The graceful phase ended at `deadline` and the record was not touched since.
    DeadlinePassed {
        /// The deadline.
        deadline: Timestamp,
    },
    /// The check booked for `due` did not run (a broken scheduler or its role).
    CheckLate {
        /// When the check was due.
        due: Timestamp,
    },
    /// The drain is live, has no check booked, and nothing touched it for a check interval.
    NoCheckBooked {
        /// The last write.
        since: Timestamp,
    },
    /// An invocation claimed the completion at `since` and never finished it.
    CompletionStalled {
        /// The claim's write.
        since: Timestamp,
    },
}

impl Overdue {
    /// A few words for the status table and explain.
    pub fn describe(self, now: Timestamp) -> String {
        let (what, since, after) = match self {
            Overdue::DeadlinePassed { deadline } => {
                ("deadline passed", deadline, " ago and nothing happened")
            }
            Overdue::CheckLate { due } => {
                ("check due", due, " ago never ran (scheduler or its role?)")
            }
            Overdue::NoCheckBooked { since } => ("no check booked and no change for", since, ""),
            Overdue::CompletionStalled { since } => {
                ("completion claimed", since, " ago never finished")
            }
        };
        // The seconds always follow `what`; `after` carries its own leading space.
        format!("{what} {} s{after}", now.seconds_since(since))
    }
}

/// Whether the live drain `record` is overdue at `now`, given the functions' COMPLETING lease.
/// A finished drain is never overdue.
pub fn overdue(record: &DrainRecord, now: Timestamp, lease_seconds: i64) -> Option<Overdue> {
    let late = |at: Timestamp| now.seconds_since(at) > OVERDUE_GRACE_SECONDS;
    match record.status {
        DrainStatus::Completed | DrainStatus::Expired => None,
        DrainStatus::Completing => (now.seconds_since(record.updated_at)
            > lease_seconds + OVERDUE_GRACE_SECONDS)
            .then_some(Overdue::CompletionStalled {
                since: record.updated_at,
            }),
        DrainStatus::Draining => {
            if record.phase == DrainPhase::Graceful
                && late(record.deadline_at)
                && record.updated_at < record.deadline_at
            {
                return Some(Overdue::DeadlinePassed {
                    deadline: record.deadline_at,
                });
            }
            match record.next_check_at {
                Some(due) if late(due) && record.updated_at < due => {
                    Some(Overdue::CheckLate { due })
                }
                None if now.seconds_since(record.updated_at)
                    > record.check_interval_seconds + OVERDUE_GRACE_SECONDS =>
                {
                    Some(Overdue::NoCheckBooked {
                        since: record.updated_at,
                    })
                }
                _ => None,
            }
        }
    }
}

/// One operator action, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// The caller's identity ARN (STS GetCallerIdentity).
    pub who: String,
    /// When.
    pub at: Timestamp,
    /// What, in words (e.g. `force-complete ABANDON`).
    pub what: String,
}

/// What an operator asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperatorAction {
    /// Complete the lifecycle action now with `result`.
    ForceComplete {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
    },
    /// Move the deadline `by_seconds` later.
    Extend {
        /// Seconds, positive.
        by_seconds: i64,
    },
    /// Stop draining: set the instance ACTIVE again, then complete with `result`.
    Cancel {
        /// CONTINUE or ABANDON.
        result: LifecycleResult,
    },
}

impl OperatorAction {
    /// The audit entry's words.
    pub fn describe(self) -> String {
        match self {
            OperatorAction::ForceComplete { result } => {
                format!("force-complete {}", result.as_str())
            }
            OperatorAction::Extend { by_seconds } => format!("extend by {by_seconds} s"),
            OperatorAction::Cancel { result } => {
                format!("cancel: ACTIVE again, complete {}", result.as_str())
            }
        }
    }
}

/// Why an operator action is refused. Nothing was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum OperatorRefusal {
    /// The drain already ended.
    #[error("the drain already ended ({})", status.as_str())]
    Finished {
        /// COMPLETED or EXPIRED.
        status: DrainStatus,
    },
    /// An invocation holds the completion claim and may still finish it.
    #[error("an invocation is completing this drain; its claim lapses at {}", until.to_rfc3339())]
    BeingCompleted {
        /// When the claim lapses.
        until: Timestamp,
    },
    /// An extension must be positive.
    #[error("an extension must be longer than 0 s")]
    NotPositive,
    /// The deadline was already enforced (the tasks stopped): there is nothing to extend.
    #[error("the deadline was already enforced")]
    AlreadyEnforcing,
    /// The lifecycle hook gives up before the extended deadline: no heartbeat can pass that.
    #[error("the hook itself gives up at {}, before the extended deadline", hook_expires_at.to_rfc3339())]
    PastHookExpiry {
        /// When the hook gives up.
        hook_expires_at: Timestamp,
    },
}

/// What to write for an operator action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperatorPlan {
    /// Write `claim` (COMPLETING, with the audit entry); then, if `reactivate`, set the
    /// instance ACTIVE; then complete the lifecycle action with `result`.
    Complete {
        /// The claim to write over the revision read.
        claim: DrainRecord,
        /// The result to send.
        result: LifecycleResult,
        /// Whether to set the instance ACTIVE first (cancel).
        reactivate: bool,
    },
    /// Write `record` (the new deadline, with the audit entry) over the revision read.
    Extend {
        /// The record to write.
        record: DrainRecord,
    },
}

fn with_audit(mut record: DrainRecord, entry: AuditEntry) -> DrainRecord {
    record.audit.push(entry);
    let excess = record.audit.len().saturating_sub(MAX_AUDIT_ENTRIES);
    record.audit.drain(..excess);
    record
}

/// The plan for `action` by `who` at `now` on `record` (as read), the completion claim named
/// `claim_id`, with the functions' COMPLETING lease.
pub fn plan_operator(
    record: &DrainRecord,
    action: OperatorAction,
    who: &str,
    now: Timestamp,
    claim_id: String,
    lease_seconds: i64,
) -> Result<OperatorPlan, OperatorRefusal> {
    if record.status.is_terminal() {
        return Err(OperatorRefusal::Finished {
            status: record.status,
        });
    }
    let lease_ends = record.updated_at.plus_seconds(lease_seconds);
    if record.status == DrainStatus::Completing && now < lease_ends {
        return Err(OperatorRefusal::BeingCompleted { until: lease_ends });
    }
    let entry = AuditEntry {
        who: who.to_owned(),
        at: now,
        what: action.describe(),
    };
    match action {
        OperatorAction::ForceComplete { result } | OperatorAction::Cancel { result } => {
            Ok(OperatorPlan::Complete {
                claim: with_audit(record.claimed(now, claim_id, result), entry),
                result,
                reactivate: matches!(action, OperatorAction::Cancel { .. }),
            })
        }
        OperatorAction::Extend { by_seconds } => {
            if by_seconds <= 0 {
                return Err(OperatorRefusal::NotPositive);
            }
            if record.phase == DrainPhase::Enforcing {
                return Err(OperatorRefusal::AlreadyEnforcing);
            }
            // An overdue deadline is extended from now: the operator means "give it more time".
            let deadline_at = record.deadline_at.max(now).plus_seconds(by_seconds);
            if let Some(hook_expires_at) = record.hook_expires_at
                && deadline_at > hook_expires_at
            {
                return Err(OperatorRefusal::PastHookExpiry { hook_expires_at });
            }
            let mut extended = record.progressed(now);
            extended.deadline_at = deadline_at;
            extended.expires_at = extended
                .expires_at
                .max(deadline_at.plus_seconds(record.expires_at.seconds_since(record.deadline_at)));
            Ok(OperatorPlan::Extend {
                record: with_audit(extended, entry),
            })
        }
    }
}

/// What became of the drain's booked check when an operator ended the drain: an ended drain
/// has nothing left to check, and a check left booked fires later only to find that out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BookedCheck {
    /// Deleted, or there was none.
    Deleted,
    /// The schedule group is not known (no stack named): the check, if one is booked, fires,
    /// finds the drain ended and deletes itself.
    GroupUnknown,
    /// The delete failed (the reason, bounded); the check fires, finds the drain ended and
    /// deletes itself.
    NotDeleted(String),
}

impl BookedCheck {
    /// A few words for the audit entry.
    pub fn describe(&self) -> String {
        match self {
            BookedCheck::Deleted => "booked check deleted".to_owned(),
            BookedCheck::GroupUnknown => {
                "booked check left (schedule group unknown): it finds the drain ended".to_owned()
            }
            BookedCheck::NotDeleted(why) => format!(
                "booked check not deleted ({}): it finds the drain ended",
                crate::error::bounded(why, MAX_CHECK_REASON_CHARS)
            ),
        }
    }
}

/// Longest reason a failed check delete leaves in the audit entry.
const MAX_CHECK_REASON_CHARS: usize = 200;

/// The record once the completion of `claim` (sent with `result` by `action`) was answered,
/// and what became of its booked check (noted in the operator's audit entry).
pub fn operator_completed(
    claim: &DrainRecord,
    action: OperatorAction,
    result: LifecycleResult,
    answer: ActionAnswer,
    check: &BookedCheck,
    now: Timestamp,
) -> DrainRecord {
    let mut claim = claim.clone();
    if let Some(entry) = claim.audit.last_mut() {
        entry.what = format!("{}; {}", entry.what, check.describe());
    }
    let claim = &claim;
    let who = claim
        .audit
        .last()
        .map_or("an operator", |entry| entry.who.as_str());
    match answer {
        ActionAnswer::Accepted => claim.ended(
            now,
            DrainStatus::Completed,
            Some(result),
            format!("{} by {who}", action.describe()),
        ),
        ActionAnswer::NoActiveAction { .. } => claim.ended(
            now,
            DrainStatus::Expired,
            None,
            format!(
                "{} by {who}: the lifecycle action was already gone",
                action.describe()
            ),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sample;

    const START: Timestamp = sample::STARTED_AT;
    const WHO: &str = "arn:aws:sts::123456789012:assumed-role/oncall/alice";

    /// The sample drain started at START: deadline START+3600, hook gives up at START+30000
    /// (100 × 300 s).
    fn drain() -> DrainRecord {
        sample::drain_record()
    }

    fn at(seconds: i64) -> Timestamp {
        START.plus_seconds(seconds)
    }

    #[test]
    fn overdue_only_when_something_due_did_not_happen() {
        let checked = |due: i64, updated: i64| DrainRecord {
            next_check_at: Some(at(due)),
            updated_at: at(updated),
            ..drain()
        };
        let ended = drain().ended(at(10), DrainStatus::Completed, None, "done".into());
        let claimed = drain().claimed(at(100), "c".into(), LifecycleResult::Continue);
        let cases: Vec<(&str, DrainRecord, i64, Option<Overdue>)> = vec![
            ("check not yet due", checked(240, 0), 200, None),
            ("check due, within grace", checked(240, 0), 240 + 120, None),
            (
                "check due and never ran",
                checked(240, 0),
                240 + 121,
                Some(Overdue::CheckLate { due: at(240) }),
            ),
            (
                "the check ran and booked the next",
                checked(480, 240),
                400,
                None,
            ),
            (
                "deadline passed untouched",
                checked(3500, 3400),
                3600 + 121,
                Some(Overdue::DeadlinePassed { deadline: at(3600) }),
            ),
            (
                "no check booked for longer than an interval",
                DrainRecord {
                    next_check_at: None,
                    ..drain()
                },
                drain().check_interval_seconds + 121,
                Some(Overdue::NoCheckBooked { since: START }),
            ),
            ("a finished drain", ended, 100_000, None),
            ("a fresh claim", claimed.clone(), 100 + 180, None),
            (
                "a claim past its lease",
                claimed,
                100 + 180 + 121,
                Some(Overdue::CompletionStalled { since: at(100) }),
            ),
        ];
        for (name, record, now, expected) in cases {
            assert_eq!(overdue(&record, at(now), 180), expected, "{name}");
        }
    }

    #[test]
    fn each_overdue_reading_says_what_is_late_and_by_how_many_seconds() {
        let now = at(1_000);
        let table = [
            (
                Overdue::DeadlinePassed { deadline: at(400) },
                "deadline passed 600 s ago and nothing happened",
            ),
            (
                Overdue::CheckLate { due: at(700) },
                "check due 300 s ago never ran (scheduler or its role?)",
            ),
            (
                Overdue::NoCheckBooked { since: at(100) },
                "no check booked and no change for 900 s",
            ),
            (
                Overdue::CompletionStalled { since: at(990) },
                "completion claimed 10 s ago never finished",
            ),
        ];
        for (overdue, words) in table {
            assert_eq!(overdue.describe(now), words, "{overdue:?}");
        }
    }

    #[test]
    fn refusals_name_why_and_write_nothing() {
        let ended = drain().ended(at(10), DrainStatus::Expired, None, "gone".into());
        let claimed = drain().claimed(at(100), "c".into(), LifecycleResult::Continue);
        let enforcing = DrainRecord {
            phase: DrainPhase::Enforcing,
            ..drain()
        };
        let force = OperatorAction::ForceComplete {
            result: LifecycleResult::Continue,
        };
        let cases: Vec<(&str, DrainRecord, OperatorAction, OperatorRefusal)> = vec![
            (
                "ended",
                ended,
                force,
                OperatorRefusal::Finished {
                    status: DrainStatus::Expired,
                },
            ),
            (
                "an invocation's live claim",
                claimed,
                force,
                OperatorRefusal::BeingCompleted { until: at(280) },
            ),
            (
                "a zero extension",
                drain(),
                OperatorAction::Extend { by_seconds: 0 },
                OperatorRefusal::NotPositive,
            ),
            (
                "extending an enforced deadline",
                enforcing,
                OperatorAction::Extend { by_seconds: 60 },
                OperatorRefusal::AlreadyEnforcing,
            ),
            (
                "past the hook's own expiry",
                drain(),
                OperatorAction::Extend { by_seconds: 30_000 },
                OperatorRefusal::PastHookExpiry {
                    hook_expires_at: at(30_000),
                },
            ),
        ];
        for (name, record, action, refusal) in cases {
            assert_eq!(
                plan_operator(&record, action, WHO, at(200), "op".into(), 180),
                Err(refusal),
                "{name}"
            );
        }
    }

    #[test]
    fn a_completion_claims_first_and_records_who_did_what() {
        for (action, reactivate) in [
            (
                OperatorAction::ForceComplete {
                    result: LifecycleResult::Abandon,
                },
                false,
            ),
            (
                OperatorAction::Cancel {
                    result: LifecycleResult::Continue,
                },
                true,
            ),
        ] {
            let plan = plan_operator(&drain(), action, WHO, at(200), "op-1".into(), 180);
            let Ok(OperatorPlan::Complete {
                claim,
                reactivate: planned,
                ..
            }) = plan
            else {
                unreachable!("a live drain is completed: {plan:?}");
            };
            assert_eq!(planned, reactivate);
            assert_eq!(
                (claim.status, claim.claim_id.as_deref(), claim.revision),
                (DrainStatus::Completing, Some("op-1"), 1)
            );
            assert_eq!(
                claim.audit,
                vec![AuditEntry {
                    who: WHO.into(),
                    at: at(200),
                    what: action.describe()
                }]
            );
        }
    }

    #[test]
    fn a_stalled_claim_may_be_taken_over_by_the_operator() {
        let stalled = drain().claimed(at(100), "dead-invocation".into(), LifecycleResult::Continue);
        let plan = plan_operator(
            &stalled,
            OperatorAction::ForceComplete {
                result: LifecycleResult::Continue,
            },
            WHO,
            at(100 + 181),
            "op".into(),
            180,
        );
        assert!(
            matches!(&plan, Ok(OperatorPlan::Complete { claim, .. }) if claim.claim_id.as_deref() == Some("op")),
            "{plan:?}"
        );
    }

    #[test]
    fn an_extension_moves_the_deadline_from_it_or_from_now_when_overdue() {
        for (now, by, deadline) in [(200, 1800, 3600 + 1800), (5000, 600, 5600)] {
            let plan = plan_operator(
                &drain(),
                OperatorAction::Extend { by_seconds: by },
                WHO,
                at(now),
                "op".into(),
                180,
            );
            let Ok(OperatorPlan::Extend { record }) = plan else {
                unreachable!("extended: {plan:?}");
            };
            assert_eq!(record.deadline_at, at(deadline));
            assert_eq!(record.status, DrainStatus::Draining);
            assert!(record.expires_at >= at(deadline + 86_400));
            assert_eq!(record.audit.len(), 1);
        }
    }

    #[test]
    fn the_audit_trail_keeps_the_latest_entries() {
        let mut record = drain();
        for n in 0..(MAX_AUDIT_ENTRIES + 5) {
            record = with_audit(
                record,
                AuditEntry {
                    who: WHO.into(),
                    at: at(n as i64),
                    what: format!("{n}"),
                },
            );
        }
        assert_eq!(record.audit.len(), MAX_AUDIT_ENTRIES);
        assert_eq!(record.audit[0].what, "5");
    }

    #[test]
    fn the_answer_decides_completed_or_expired() {
        let action = OperatorAction::ForceComplete {
            result: LifecycleResult::Abandon,
        };
        let Ok(OperatorPlan::Complete { claim, .. }) =
            plan_operator(&drain(), action, WHO, at(200), "op".into(), 180)
        else {
            unreachable!("planned");
        };
        let done = operator_completed(
            &claim,
            action,
            LifecycleResult::Abandon,
            ActionAnswer::Accepted,
            &BookedCheck::Deleted,
            at(201),
        );
        assert_eq!(
            (done.status, done.result, done.reason.as_deref()),
            (
                DrainStatus::Completed,
                Some(LifecycleResult::Abandon),
                Some(format!("force-complete ABANDON by {WHO}").as_str())
            )
        );
        let gone = operator_completed(
            &claim,
            action,
            LifecycleResult::Abandon,
            ActionAnswer::NoActiveAction {
                after_unclear_attempt: false,
            },
            &BookedCheck::NotDeleted("scheduler:DeleteSchedule: access denied".into()),
            at(201),
        );
        assert_eq!((gone.status, gone.result), (DrainStatus::Expired, None));
        assert_eq!(
            done.audit[0].what,
            "force-complete ABANDON; booked check deleted"
        );
        assert_eq!(
            gone.audit[0].what,
            "force-complete ABANDON; booked check not deleted (scheduler:DeleteSchedule: access \
             denied): it finds the drain ended"
        );
    }
}
