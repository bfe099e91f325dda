//! Which drain events (crate::notify) a step of a drain announces. Pure, like the facts it
//! mirrors (`decision::facts`): each transition is announced once per drain where the record
//! says it happened for the first time (the first census, the first census that finds stuck
//! services, the first enforcement of the deadline), so a retried invocation or a later look
//! does not announce it again once its record was written.

use crate::census::Census;
use crate::decision::operator::Overdue;
use crate::decision::{ActionOutcome, Decision};
use crate::notify::Enforcement;
use crate::record::{CompletionReason, DrainRecord, LifecycleResult};

/// A transition to announce, before its event is built from the record and the census.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Announcement {
    /// The drain's first census was taken (DRAINING is set).
    Started,
    /// The census found services that can never move their tasks, for the first time.
    StuckServices,
    /// The look found the drain overdue (`decision::operator::overdue`, as `drainctl status`
    /// shows it): a check or the deadline was missed and nothing happened until this look.
    StuckOverdue(Overdue),
    /// The graceful phase ended.
    DeadlineEnforced {
        /// Tasks stopped, or the action abandoned.
        enforcement: Enforcement,
        /// Tasks ecs-drain asked ECS to stop (0 with abandon).
        tasks_stopped: u32,
    },
    /// The lifecycle action was completed.
    Completed {
        /// The result sent.
        result: LifecycleResult,
        /// Why.
        reason: CompletionReason,
    },
    /// The lifecycle action was gone before ecs-drain completed it.
    Expired,
}

/// The announcements of one look with a census, by when they are made.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LookAnnouncements {
    /// Made as soon as the decision is made.
    pub decided: Vec<Announcement>,
    /// Made once the decision's ECS calls (stopping tasks) succeeded: a failed call is
    /// retried with the same record, and the retry announces it then.
    pub applied: Vec<Announcement>,
}

/// Whether `census` is the first of the drain to find services that can never move (the
/// record `before` it, as read, has none): counted and announced once per drain.
pub fn first_finds_stuck_services(before: &DrainRecord, census: &Census) -> bool {
    !census.stuck_services.is_empty()
        && before
            .last_census
            .as_ref()
            .is_none_or(|last| last.stuck_services.is_empty())
}

/// What a look at `before` (the record as read) with `census` and `decision` announces;
/// `overdue` is whether `before` was overdue when the look began. An overdue drain is
/// announced by the look that finds it so (the late check itself, or the first look after a
/// missed one); that look's writes end it, so each missed check or deadline is announced once.
pub fn look_announcements(
    before: &DrainRecord,
    census: &Census,
    decision: &Decision,
    overdue: Option<Overdue>,
) -> LookAnnouncements {
    let mut decided = Vec::new();
    if let Some(overdue) = overdue {
        decided.push(Announcement::StuckOverdue(overdue));
    }
    // The record keeps a census summary from the first census on: none means this is it.
    if before.last_census.is_none() {
        decided.push(Announcement::Started);
    }
    if first_finds_stuck_services(before, census) {
        decided.push(Announcement::StuckServices);
    }
    let applied = match decision {
        Decision::EnforceDeadline { tasks } if before.enforced_at.is_none() => {
            vec![Announcement::DeadlineEnforced {
                enforcement: Enforcement::StopTasks,
                tasks_stopped: u32::try_from(tasks.len()).unwrap_or(u32::MAX),
            }]
        }
        _ => Vec::new(),
    };
    LookAnnouncements { decided, applied }
}

/// What a completion call answered `outcome` announces: the completion (with, for an abandon
/// at the deadline, the deadline's enforcement first), or the expiry when the action was gone.
pub fn completion_announcements(
    outcome: ActionOutcome,
    result: LifecycleResult,
    reason: CompletionReason,
) -> Vec<Announcement> {
    match outcome {
        ActionOutcome::NoActiveAction => vec![Announcement::Expired],
        ActionOutcome::Done | ActionOutcome::DoneUnconfirmed => {
            let mut announced = Vec::new();
            if reason == CompletionReason::DeadlineAbandoned {
                announced.push(Announcement::DeadlineEnforced {
                    enforcement: Enforcement::Abandon,
                    tasks_stopped: 0,
                });
            }
            announced.push(Announcement::Completed { result, reason });
            announced
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::census::AliveCounts;
    use crate::ids::TaskArn;
    use crate::record::CensusSummary;
    use crate::testing::sample;
    use crate::time::Timestamp;

    fn census(stuck: &[&str]) -> Census {
        Census {
            alive: Vec::new(),
            stuck_services: stuck.iter().map(|name| (*name).to_owned()).collect(),
        }
    }

    fn after_census(stuck: &[&str]) -> DrainRecord {
        DrainRecord {
            last_census: Some(CensusSummary {
                taken_at: Timestamp(1_795_000_060),
                alive: AliveCounts::default(),
                stuck_services: stuck.iter().map(|name| (*name).to_owned()).collect(),
            }),
            ..sample::drain_record()
        }
    }

    fn wait() -> Decision {
        Decision::Wait {
            alive: AliveCounts::default(),
            waiting_on: crate::decision::WaitingOn::Tasks,
        }
    }

    #[test]
    fn each_look_transition_is_announced_the_first_time_only() {
        let task = TaskArn::new("arn:aws:ecs:us-east-1:123456789012:task/prod/0123456789abcdef")
            .expect("a task ARN");
        let enforce = Decision::EnforceDeadline {
            tasks: vec![task.clone(), task],
        };
        let enforced = DrainRecord {
            enforced_at: Some(Timestamp(1_795_003_600)),
            ..after_census(&[])
        };
        let table: Vec<(&str, DrainRecord, Census, Decision, LookAnnouncements)> = vec![
            (
                "first census",
                sample::drain_record(),
                census(&[]),
                wait(),
                LookAnnouncements {
                    decided: vec![Announcement::Started],
                    applied: vec![],
                },
            ),
            (
                "first census finds a stuck service",
                sample::drain_record(),
                census(&["web"]),
                wait(),
                LookAnnouncements {
                    decided: vec![Announcement::Started, Announcement::StuckServices],
                    applied: vec![],
                },
            ),
            (
                "a later census, nothing new",
                after_census(&[]),
                census(&[]),
                wait(),
                LookAnnouncements::default(),
            ),
            (
                "a later census finds a stuck service for the first time",
                after_census(&[]),
                census(&["web"]),
                wait(),
                LookAnnouncements {
                    decided: vec![Announcement::StuckServices],
                    applied: vec![],
                },
            ),
            (
                "stuck services already announced",
                after_census(&["web"]),
                census(&["web", "api"]),
                wait(),
                LookAnnouncements::default(),
            ),
            (
                "the deadline, enforced for the first time",
                after_census(&[]),
                census(&[]),
                enforce.clone(),
                LookAnnouncements {
                    decided: vec![],
                    applied: vec![Announcement::DeadlineEnforced {
                        enforcement: Enforcement::StopTasks,
                        tasks_stopped: 2,
                    }],
                },
            ),
            (
                "the deadline, already enforced",
                enforced,
                census(&[]),
                enforce,
                LookAnnouncements::default(),
            ),
        ];
        for (case, before, census, decision, expected) in table {
            assert_eq!(
                look_announcements(&before, &census, &decision, None),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn a_look_that_finds_the_drain_overdue_announces_it_stuck_first() {
        let before = after_census(&[]);
        let due = before.started_at;
        let late = Overdue::CheckLate { due };
        let announced = look_announcements(&before, &census(&[]), &wait(), Some(late));
        assert_eq!(announced.decided, vec![Announcement::StuckOverdue(late)]);
        let on_time = look_announcements(&before, &census(&[]), &wait(), None);
        assert!(on_time.decided.is_empty(), "{on_time:?}");
    }

    #[test]
    fn a_completion_announces_what_the_answer_says_happened() {
        use ActionOutcome::*;
        use CompletionReason::*;
        use LifecycleResult::*;
        let completed = |result, reason| Announcement::Completed { result, reason };
        let abandon = Announcement::DeadlineEnforced {
            enforcement: Enforcement::Abandon,
            tasks_stopped: 0,
        };
        let table = [
            (Done, Continue, Drained, vec![completed(Continue, Drained)]),
            (
                DoneUnconfirmed,
                Continue,
                DeadlineEnforced,
                vec![completed(Continue, DeadlineEnforced)],
            ),
            (
                Done,
                Abandon,
                DeadlineAbandoned,
                vec![abandon, completed(Abandon, DeadlineAbandoned)],
            ),
            (
                NoActiveAction,
                Continue,
                Drained,
                vec![Announcement::Expired],
            ),
            (
                NoActiveAction,
                Abandon,
                DeadlineAbandoned,
                vec![Announcement::Expired],
            ),
        ];
        for (outcome, result, reason, expected) in table {
            assert_eq!(
                completion_announcements(outcome, result, reason),
                expected,
                "{outcome:?} {result:?} {reason:?}"
            );
        }
    }
}
