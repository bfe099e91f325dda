//! The DynamoDB adapter: one item per container instance, every write conditional.
//!
//! Key: `container_instance_arn` (S). TTL attribute: `expires_at` (epoch seconds). Times are
//! epoch seconds (N). Each write carries `revision`; a replace requires the stored revision
//! to be the one the writer read, so concurrent invocations cannot both move a drain.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use drain_core::DrainError;
use drain_core::census::{AliveCounts, SchedulingStrategy, ServiceFacts};
use drain_core::decision::operator::AuditEntry;
use drain_core::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef, LifecycleToken,
    TaskArn,
};
use drain_core::launch_record::LaunchRecord;
use drain_core::ports::{DrainStore, InsertOutcome, WriteOutcome};
use drain_core::record::{
    AliveKind, AliveSet, AliveTask, CensusSummary, DrainKind, DrainPhase, DrainRecord, DrainStatus,
    KnownStopped, LifecycleResult,
};
use drain_core::time::Timestamp;

use crate::error::classify;

/// The partition key attribute.
pub const KEY: &str = "container_instance_arn";
/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

mod launch;

/// [`DrainStore`] over a DynamoDB table.
#[derive(Clone, Debug)]
pub struct DynamoDrainStore {
    client: Client,
    table: String,
}

impl DynamoDrainStore {
    /// Records in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoDrainStore {
            client,
            table: table.into(),
        }
    }

    async fn put(
        &self,
        item: Item,
        condition: &str,
        values: Option<(&str, AttributeValue)>,
    ) -> Result<WriteOutcome, DrainError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition);
        if let Some((name, value)) = values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|service| service.is_conditional_check_failed_exception()) =>
            {
                Ok(WriteOutcome::LostRace)
            }
            Err(error) => Err(classify("dynamodb:PutItem", error)),
        }
    }
}

impl DynamoDrainStore {
    /// The item under `key`, read consistently.
    async fn get(&self, key: String) -> Result<Option<Item>, DrainError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(key))
            // The revision read must be the latest, or every conditional write would lose.
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| classify("dynamodb:GetItem", error))?;
        Ok(output.item)
    }

    /// Every drain record in the table (a paginated Scan), for operators; the handlers never
    /// scan. Items that do not parse are returned as errors next to the ones that do; launch
    /// records (their own key prefix) are left out.
    pub async fn scan_all(&self) -> Result<Vec<Result<DrainRecord, ItemError>>, DrainError> {
        let items = self
            .client
            .scan()
            .table_name(&self.table)
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<Item>, _>>()
            .await
            .map_err(|error| classify("dynamodb:Scan", error))?;
        Ok(items
            .iter()
            .filter(|item| !launch::is_launch_item(item))
            .map(from_item)
            .collect())
    }
}

impl DrainStore for DynamoDrainStore {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        // Boxed: one more inline layer puts the task function's future past the compiler's
        // layout recursion limit.
        Box::pin(self.get(instance.to_string()))
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
            .map_err(|error| DrainError::Permanent {
                operation: "dynamodb:GetItem",
                source: Box::new(error),
            })
    }

    async fn insert(&self, record: &DrainRecord) -> Result<InsertOutcome, DrainError> {
        const OPERATION: &str = "dynamodb:PutItem";
        let answer = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
            .condition_expression("attribute_not_exists(container_instance_arn)")
            // The failed condition answers the item on file: no GetItem to learn it.
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let on_file = match answer {
            Ok(_) => return Ok(InsertOutcome::Inserted),
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed.item.clone(),
                _ => return Err(classify(OPERATION, error)),
            },
        };
        let on_file = match on_file {
            Some(item) => from_item(&item).map_err(|error| DrainError::Permanent {
                operation: OPERATION,
                source: Box::new(error),
            })?,
            // DynamoDB always returns it with ALL_OLD; a store that does not is read instead.
            None => self
                .load(&record.container_instance_arn)
                .await?
                .ok_or_else(|| {
                    DrainError::transient(
                        OPERATION,
                        "the conditional insert found a record that was gone when read",
                    )
                })?,
        };
        Ok(InsertOutcome::Exists(Box::new(on_file)))
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.put(
            to_item(record),
            "revision = :expected",
            Some((":expected", number(expected_revision as i64))),
        )
        .await
    }

    async fn load_launch(
        &self,
        instance: &Ec2InstanceId,
    ) -> Result<Option<LaunchRecord>, DrainError> {
        let item = self.get(LaunchRecord::key(instance)).await?;
        item.as_ref()
            .map(launch::from_item)
            .transpose()
            .map_err(|error| DrainError::Permanent {
                operation: "dynamodb:GetItem",
                source: Box::new(error),
            })
    }

    async fn insert_launch(&self, record: &LaunchRecord) -> Result<WriteOutcome, DrainError> {
        self.put(
            launch::to_item(record)?,
            "attribute_not_exists(container_instance_arn)",
            None,
        )
        .await
    }

    async fn replace_launch(
        &self,
        record: &LaunchRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.put(
            launch::to_item(record)?,
            "revision = :expected",
            Some((":expected", number(expected_revision as i64))),
        )
        .await
    }
}

fn number(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn text(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The item for a record.
pub fn to_item(record: &DrainRecord) -> Item {
    let mut item = Item::new();
    let mut put = |name: &str, value: AttributeValue| {
        item.insert(name.to_owned(), value);
    };
    put(KEY, text(record.container_instance_arn.as_str()));
    put("cluster_arn", text(record.cluster_arn.as_str()));
    put("ec2_instance_id", text(record.ec2_instance_id.as_str()));
    put("asg_name", text(record.hook.asg_name.as_str()));
    put("hook_name", text(record.hook.hook_name.as_str()));
    put("lifecycle_token", text(record.token.expose()));
    put("status", text(record.status.as_str()));
    put("phase", text(record.phase.as_str()));
    put("noticed_at", number(record.noticed_at.epoch_seconds()));
    put("started_at", number(record.started_at.epoch_seconds()));
    put("updated_at", number(record.updated_at.epoch_seconds()));
    put("deadline_at", number(record.deadline_at.epoch_seconds()));
    // Readable twins of the times an operator looks at first.
    put("started", text(record.started_at.to_rfc3339()));
    put("deadline", text(record.deadline_at.to_rfc3339()));
    put(
        "check_interval_seconds",
        number(record.check_interval_seconds),
    );
    put("heartbeats_sent", number(i64::from(record.heartbeats_sent)));
    put(TTL_ATTRIBUTE, number(record.expires_at.epoch_seconds()));
    put("revision", number(record.revision as i64));
    if let Some(result) = record.result {
        put("result", text(result.as_str()));
    }
    if let Some(reason) = &record.reason {
        put("reason", text(reason.as_str()));
    }
    if let Some(claim_id) = &record.claim_id {
        put("claim_id", text(claim_id.as_str()));
    }
    let optional_times = [
        ("hook_expires_at", record.hook_expires_at),
        ("next_check_at", record.next_check_at),
        ("daemons_stopped_at", record.daemons_stopped_at),
        ("enforced_at", record.enforced_at),
        ("finished_at", record.finished_at),
        ("completion_sent_at", record.completion_sent_at),
    ];
    for (name, value) in optional_times {
        if let Some(at) = value {
            put(name, number(at.epoch_seconds()));
        }
    }
    if let Some(timeout) = record.heartbeat_timeout_seconds {
        put("heartbeat_timeout_seconds", number(timeout));
    }
    if let Some(census) = &record.last_census {
        put("census_taken_at", number(census.taken_at.epoch_seconds()));
        put("alive_replica", number(i64::from(census.alive.replica)));
        put("alive_daemon", number(i64::from(census.alive.daemon)));
        put(
            "alive_standalone",
            number(i64::from(census.alive.standalone)),
        );
        if !census.stuck_services.is_empty() {
            put(
                "stuck_services",
                AttributeValue::L(
                    census
                        .stuck_services
                        .iter()
                        .map(|name| text(name.as_str()))
                        .collect(),
                ),
            );
        }
    }
    if !record.audit.is_empty() {
        put("audit", audit_to_attribute(&record.audit));
    }
    // Early-drain attributes, written only when set: a lifecycle drain's item is unchanged,
    // and an item without them reads back as a lifecycle drain.
    if record.kind != DrainKind::Lifecycle {
        put("drain_kind", text(record.kind.as_str()));
    }
    if record.awaiting_action {
        put("awaiting_action", AttributeValue::Bool(true));
    }
    if record.coexistence_warned {
        put("coexistence_warned", AttributeValue::Bool(true));
    }
    if !record.immovable_services.is_empty() {
        put(
            "immovable_services",
            AttributeValue::L(
                record
                    .immovable_services
                    .iter()
                    .map(|name| text(name.as_str()))
                    .collect(),
            ),
        );
    }
    if let Some(alive) = &record.alive {
        put_alive_set(&mut item, alive, &record.cluster_arn);
    }
    if !record.known_stopped.is_empty() {
        item.insert(
            STOPPED_TASKS.to_owned(),
            AttributeValue::B(Blob::new(record.known_stopped.to_bytes())),
        );
    }
    if !record.service_kinds.is_empty() {
        item.insert(
            "service_kinds".to_owned(),
            AttributeValue::L(
                record
                    .service_kinds
                    .iter()
                    .map(|facts| text(service_line(facts)))
                    .collect(),
            ),
        );
    }
    item
}

/// The tasks the drain knows are STOPPED: one binary value (B), their 16-byte ids end to end
/// (`KnownStopped::to_bytes`). One attribute rather than a binary set: a set cannot be empty,
/// and 16 bytes a task is all the 2,000 ids of a full record need (32 KB).
const STOPPED_TASKS: &str = "stopped_tasks";

/// Reads [`STOPPED_TASKS`] back: empty when absent (a new drain, or a record written before
/// the attribute existed).
fn known_stopped_of(item: &Item) -> Result<KnownStopped, ItemError> {
    match item.get(STOPPED_TASKS) {
        None => Ok(KnownStopped::default()),
        Some(value) => value
            .as_b()
            .ok()
            .and_then(|bytes| KnownStopped::from_bytes(bytes.as_ref()))
            .ok_or(ItemError::Attribute(STOPPED_TASKS)),
    }
}

/// Operator actions (drainctl) as a list of maps `{who, at, what}`.
fn audit_to_attribute(audit: &[AuditEntry]) -> AttributeValue {
    AttributeValue::L(
        audit
            .iter()
            .map(|entry| {
                AttributeValue::M(Item::from([
                    ("who".to_owned(), text(entry.who.as_str())),
                    ("at".to_owned(), number(entry.at.epoch_seconds())),
                    ("what".to_owned(), text(entry.what.as_str())),
                ]))
            })
            .collect(),
    )
}

fn audit_from_attribute(value: Option<&AttributeValue>) -> Result<Vec<AuditEntry>, ItemError> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let malformed = ItemError::Attribute("audit");
    let entries = value.as_l().map_err(|_| ItemError::Attribute("audit"))?;
    entries
        .iter()
        .map(|entry| {
            let map = entry.as_m().ok()?;
            Some(AuditEntry {
                who: map.get("who")?.as_s().ok()?.clone(),
                at: Timestamp(map.get("at")?.as_n().ok()?.parse().ok()?),
                what: map.get("what")?.as_s().ok()?.clone(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(malformed)
}

/// The start every task ARN of the cluster shares (`arn:...:task/`): kept once, not per task.
fn task_prefix(cluster: &ClusterArn) -> Option<String> {
    cluster
        .as_str()
        .split_once(":cluster/")
        .map(|(account, _)| format!("{account}:task/"))
}

/// Placeholder for a value ECS did not report.
const NONE: &str = "-";

/// The alive set, compactly: `alive_groups` lists each service or family once, and
/// `alive_tasks` holds one line per task, `<task> <group index> <kind> <lastStatus>
/// <alive since>`, the task ARN without the cluster's common prefix. About 70 bytes a task:
/// the 1,000 tasks a record keeps at most take about 70 KB of DynamoDB's 400 KB item.
fn put_alive_set(item: &mut Item, alive: &AliveSet, cluster: &ClusterArn) {
    let prefix = task_prefix(cluster);
    let mut groups: Vec<&str> = Vec::new();
    let mut lines = String::new();
    for task in &alive.tasks {
        let group = match task.group.as_deref() {
            None => NONE.to_owned(),
            Some(group) => match groups.iter().position(|known| *known == group) {
                Some(index) => index.to_string(),
                None => {
                    groups.push(group);
                    (groups.len() - 1).to_string()
                }
            },
        };
        let arn = task.task_arn.as_str();
        let short = prefix
            .as_deref()
            .and_then(|prefix| arn.strip_prefix(prefix))
            .unwrap_or(arn);
        if !lines.is_empty() {
            lines.push('\n');
        }
        lines.push_str(&format!(
            "{short} {group} {} {} {}",
            task.kind.as_str(),
            one_word(&task.last_status),
            task.alive_since.epoch_seconds()
        ));
    }
    item.insert(
        "alive_taken_at".to_owned(),
        number(alive.taken_at.epoch_seconds()),
    );
    if alive.truncated > 0 {
        item.insert(
            "alive_truncated".to_owned(),
            number(i64::from(alive.truncated)),
        );
    }
    if !groups.is_empty() {
        item.insert(
            "alive_groups".to_owned(),
            AttributeValue::L(groups.into_iter().map(text).collect()),
        );
    }
    if !lines.is_empty() {
        item.insert("alive_tasks".to_owned(), text(lines));
    }
}

/// A lastStatus as one word (ECS's are; anything else must not break the line format).
fn one_word(status: &str) -> String {
    let word: String = status
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    if word.is_empty() {
        drain_core::census::UNKNOWN_STATUS.to_owned()
    } else {
        word
    }
}

/// Reads [`put_alive_set`]'s attributes back; None when the record has no census yet.
fn alive_set_of(item: &Item, cluster: &ClusterArn) -> Result<Option<AliveSet>, ItemError> {
    let number = |name: &'static str| -> Result<Option<i64>, ItemError> {
        item.get(name)
            .map(|value| {
                value
                    .as_n()
                    .ok()
                    .and_then(|n| n.parse::<i64>().ok())
                    .ok_or(ItemError::Attribute(name))
            })
            .transpose()
    };
    let Some(taken_at) = number("alive_taken_at")? else {
        return Ok(None);
    };
    let truncated = u32::try_from(number("alive_truncated")?.unwrap_or(0))
        .map_err(|_| ItemError::Attribute("alive_truncated"))?;
    let groups: Vec<String> = match item.get("alive_groups") {
        None => Vec::new(),
        Some(value) => value
            .as_l()
            .map_err(|_| ItemError::Attribute("alive_groups"))?
            .iter()
            .map(|group| group.as_s().cloned())
            .collect::<Result<_, _>>()
            .map_err(|_| ItemError::Attribute("alive_groups"))?,
    };
    let lines = match item.get("alive_tasks") {
        None => "",
        Some(value) => value
            .as_s()
            .map_err(|_| ItemError::Attribute("alive_tasks"))?
            .as_str(),
    };
    let prefix = task_prefix(cluster);
    let bad = || ItemError::Attribute("alive_tasks");
    let tasks = lines
        .lines()
        .map(|line| {
            let [short, group, kind, status, since] =
                drain_core::ids::exactly(line.split(' ')).ok_or_else(bad)?;
            let arn = match &prefix {
                Some(prefix) if !short.starts_with("arn:") => format!("{prefix}{short}"),
                _ => short.to_owned(),
            };
            Ok(AliveTask {
                task_arn: TaskArn::new(arn)?,
                group: match group {
                    NONE => None,
                    index => Some(
                        index
                            .parse::<usize>()
                            .ok()
                            .and_then(|index| groups.get(index))
                            .cloned()
                            .ok_or_else(bad)?,
                    ),
                },
                kind: AliveKind::parse(kind).ok_or_else(bad)?,
                last_status: status.to_owned(),
                alive_since: Timestamp(since.parse().map_err(|_| bad())?),
            })
        })
        .collect::<Result<Vec<_>, ItemError>>()?;
    Ok(Some(AliveSet {
        taken_at: Timestamp(taken_at),
        tasks,
        truncated,
    }))
}

/// One service's scheduling facts as `<name> <strategy> <min %> <max %>` (`-` for unreported).
fn service_line(facts: &ServiceFacts) -> String {
    let or_none = |value: Option<i32>| value.map_or_else(|| NONE.to_owned(), |v| v.to_string());
    format!(
        "{} {} {} {}",
        facts.name,
        facts
            .scheduling_strategy
            .as_ref()
            .map_or(NONE, SchedulingStrategy::as_str),
        or_none(facts.minimum_healthy_percent),
        or_none(facts.maximum_percent)
    )
}

fn service_facts_of(item: &Item) -> Result<Vec<ServiceFacts>, ItemError> {
    let bad = || ItemError::Attribute("service_kinds");
    let Some(value) = item.get("service_kinds") else {
        return Ok(Vec::new());
    };
    value
        .as_l()
        .map_err(|_| bad())?
        .iter()
        .map(|line| {
            let line = line.as_s().map_err(|_| bad())?;
            let fields: Vec<&str> = line.split(' ').collect();
            let [name, strategy, min, max] = fields.as_slice() else {
                return Err(bad());
            };
            let percent = |text: &str| match text {
                NONE => Ok(None),
                n => n.parse::<i32>().map(Some).map_err(|_| bad()),
            };
            Ok(ServiceFacts {
                name: (*name).to_owned(),
                scheduling_strategy: (*strategy != NONE).then(|| (*strategy).into()),
                minimum_healthy_percent: percent(min)?,
                maximum_percent: percent(max)?,
            })
        })
        .collect()
}

/// Why an item could not be read as a record.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    /// An attribute is missing or of the wrong type.
    #[error("drain record attribute {0} is missing or malformed")]
    Attribute(&'static str),
    /// An identifier attribute is invalid.
    #[error("drain record holds an invalid identifier")]
    Id(#[from] drain_core::ids::InvalidId),
}

/// The record in an item.
pub fn from_item(item: &Item) -> Result<DrainRecord, ItemError> {
    let text_of = |name: &'static str| {
        item.get(name)
            .and_then(|value| value.as_s().ok())
            .cloned()
            .ok_or(ItemError::Attribute(name))
    };
    let optional_number = |name: &'static str| -> Result<Option<i64>, ItemError> {
        match item.get(name) {
            None => Ok(None),
            Some(value) => value
                .as_n()
                .ok()
                .and_then(|n| n.parse::<i64>().ok())
                .map(Some)
                .ok_or(ItemError::Attribute(name)),
        }
    };
    let number_of = |name: &'static str| optional_number(name)?.ok_or(ItemError::Attribute(name));
    let time_of = |name: &'static str| number_of(name).map(Timestamp);
    let optional_time = |name: &'static str| optional_number(name).map(|n| n.map(Timestamp));
    let count_of = |name: &'static str| -> Result<u32, ItemError> {
        Ok(optional_number(name)?
            .map(|n| u32::try_from(n).unwrap_or(0))
            .unwrap_or(0))
    };

    let last_census = match optional_time("census_taken_at")? {
        None => None,
        Some(taken_at) => Some(CensusSummary {
            taken_at,
            alive: AliveCounts {
                replica: count_of("alive_replica")?,
                daemon: count_of("alive_daemon")?,
                standalone: count_of("alive_standalone")?,
            },
            stuck_services: names_of(item, "stuck_services"),
        }),
    };
    let cluster_arn = ClusterArn::new(text_of("cluster_arn")?)?;
    Ok(DrainRecord {
        container_instance_arn: ContainerInstanceArn::new(text_of(KEY)?)?,
        alive: alive_set_of(item, &cluster_arn)?,
        service_kinds: service_facts_of(item)?,
        cluster_arn,
        ec2_instance_id: Ec2InstanceId::new(text_of("ec2_instance_id")?)?,
        hook: HookRef {
            asg_name: AsgName::new(text_of("asg_name")?)?,
            hook_name: HookName::new(text_of("hook_name")?)?,
        },
        token: LifecycleToken::new(text_of("lifecycle_token")?)?,
        status: DrainStatus::parse(&text_of("status")?).ok_or(ItemError::Attribute("status"))?,
        phase: DrainPhase::parse(&text_of("phase")?).ok_or(ItemError::Attribute("phase"))?,
        result: match item.get("result") {
            None => None,
            Some(_) => Some(
                LifecycleResult::parse(&text_of("result")?)
                    .ok_or(ItemError::Attribute("result"))?,
            ),
        },
        reason: item
            .get("reason")
            .and_then(|value| value.as_s().ok())
            .cloned(),
        noticed_at: time_of("noticed_at")?,
        started_at: time_of("started_at")?,
        updated_at: time_of("updated_at")?,
        deadline_at: time_of("deadline_at")?,
        hook_expires_at: optional_time("hook_expires_at")?,
        heartbeat_timeout_seconds: optional_number("heartbeat_timeout_seconds")?,
        check_interval_seconds: number_of("check_interval_seconds")?,
        next_check_at: optional_time("next_check_at")?,
        heartbeats_sent: count_of("heartbeats_sent")?,
        daemons_stopped_at: optional_time("daemons_stopped_at")?,
        enforced_at: optional_time("enforced_at")?,
        finished_at: optional_time("finished_at")?,
        last_census,
        claim_id: item
            .get("claim_id")
            .and_then(|value| value.as_s().ok())
            .cloned(),
        completion_sent_at: optional_time("completion_sent_at")?,
        expires_at: time_of(TTL_ATTRIBUTE)?,
        revision: u64::try_from(number_of("revision")?)
            .map_err(|_| ItemError::Attribute("revision"))?,
        audit: audit_from_attribute(item.get("audit"))?,
        kind: match item.get("drain_kind") {
            None => DrainKind::Lifecycle,
            Some(_) => DrainKind::parse(&text_of("drain_kind")?)
                .ok_or(ItemError::Attribute("drain_kind"))?,
        },
        awaiting_action: flag_of(item, "awaiting_action")?,
        coexistence_warned: flag_of(item, "coexistence_warned")?,
        immovable_services: names_of(item, "immovable_services"),
        known_stopped: known_stopped_of(item)?,
    })
}

/// A list of names (service names), empty when the attribute is absent.
fn names_of(item: &Item, attribute: &str) -> Vec<String> {
    item.get(attribute)
        .and_then(|value| value.as_l().ok())
        .map(|names| {
            names
                .iter()
                .filter_map(|name| name.as_s().ok().cloned())
                .collect()
        })
        .unwrap_or_default()
}

/// A boolean attribute that may be absent (false).
fn flag_of(item: &Item, name: &'static str) -> Result<bool, ItemError> {
    match item.get(name) {
        None => Ok(false),
        Some(value) => value
            .as_bool()
            .copied()
            .map_err(|_| ItemError::Attribute(name)),
    }
}

#[cfg(test)]
mod tests {
    use drain_core::testing::sample;

    use super::*;

    /// The sample drain as on-lifecycle first writes it.
    fn record() -> DrainRecord {
        sample::drain_record()
    }

    #[test]
    fn a_fresh_record_round_trips_through_an_item() {
        let original = record();
        assert_eq!(
            from_item(&to_item(&original)).expect("reads back"),
            original
        );
    }

    #[test]
    fn an_early_drain_round_trips_and_an_item_without_its_attributes_is_a_lifecycle_drain() {
        let early = DrainRecord {
            kind: DrainKind::Interruption,
            awaiting_action: true,
            coexistence_warned: true,
            immovable_services: vec!["web".into(), "cache".into()],
            token: LifecycleToken::none_yet(),
            ..record()
        };
        let item = to_item(&early);
        assert_eq!(
            item.get("drain_kind").and_then(|value| value.as_s().ok()),
            Some(&"interruption".to_owned())
        );
        assert_eq!(from_item(&item).expect("reads back"), early);
        let lifecycle = to_item(&record());
        for name in [
            "drain_kind",
            "awaiting_action",
            "coexistence_warned",
            "immovable_services",
        ] {
            assert!(
                !lifecycle.contains_key(name),
                "{name} written for a lifecycle drain"
            );
        }
        let read = from_item(&lifecycle).expect("reads back");
        assert_eq!(
            (read.kind, read.awaiting_action, read.coexistence_warned),
            (DrainKind::Lifecycle, false, false)
        );
        let mut bad = item.clone();
        bad.insert("drain_kind".into(), text("spot"));
        assert!(from_item(&bad).is_err(), "an unknown kind is refused");
    }

    #[test]
    fn a_finished_record_with_a_census_round_trips_through_an_item() {
        let mut finished = record();
        finished.status = DrainStatus::Completed;
        finished.phase = DrainPhase::Enforcing;
        finished.result = Some(LifecycleResult::Abandon);
        finished.reason = Some("drain deadline passed".into());
        finished.enforced_at = Some(Timestamp(1_793_648_000));
        finished.finished_at = Some(Timestamp(1_793_648_300));
        finished.heartbeats_sent = 7;
        finished.claim_id = Some("5d41402abc4b2a76-3".into());
        finished.completion_sent_at = Some(Timestamp(1_793_648_295));
        finished.revision = 12;
        finished.audit = vec![AuditEntry {
            who: "arn:aws:iam::123456789012:user/alice".into(),
            at: Timestamp(1_793_648_299),
            what: "force-complete ABANDON".into(),
        }];
        finished.last_census = Some(CensusSummary {
            taken_at: Timestamp(1_793_648_290),
            alive: AliveCounts {
                replica: 1,
                daemon: 2,
                standalone: 3,
            },
            stuck_services: vec!["pinned".into()],
        });
        assert_eq!(
            from_item(&to_item(&finished)).expect("reads back"),
            finished
        );
    }

    fn alive_task(id: usize, group: Option<&str>, kind: AliveKind) -> AliveTask {
        AliveTask {
            task_arn: TaskArn::new(format!(
                "arn:aws:ecs:us-east-1:123456789012:task/prod/{id:032x}"
            ))
            .expect("arn"),
            group: group.map(str::to_owned),
            kind,
            last_status: "RUNNING".into(),
            alive_since: Timestamp(1_793_645_031 + id as i64),
        }
    }

    #[test]
    fn the_alive_set_and_service_kinds_round_trip_through_an_item() {
        let mut waiting = record();
        let mut other_format = alive_task(3, None, AliveKind::Standalone);
        // A task ARN of the old short format (no cluster name) keeps its whole ARN.
        other_format.task_arn =
            TaskArn::new("arn:aws:ecs:us-east-1:123456789012:task/0123456789abcdef").expect("arn");
        waiting.alive = Some(AliveSet {
            taken_at: Timestamp(1_793_645_100),
            tasks: vec![
                alive_task(1, Some("service:web"), AliveKind::Replica),
                AliveTask {
                    last_status: "DEACTIVATING".into(),
                    ..alive_task(2, Some("service:web"), AliveKind::Replica)
                },
                alive_task(4, Some("family:batch"), AliveKind::Standalone),
                alive_task(5, Some("service:agent"), AliveKind::Daemon),
                other_format,
            ],
            truncated: 2,
        });
        waiting.service_kinds = vec![
            ServiceFacts {
                name: "web".into(),
                scheduling_strategy: Some("REPLICA".into()),
                minimum_healthy_percent: Some(100),
                maximum_percent: Some(200),
            },
            ServiceFacts {
                name: "agent".into(),
                scheduling_strategy: Some("DAEMON".into()),
                minimum_healthy_percent: None,
                maximum_percent: None,
            },
        ];
        assert_eq!(from_item(&to_item(&waiting)).expect("reads back"), waiting);
        let emptied = DrainRecord {
            alive: Some(AliveSet {
                taken_at: Timestamp(1_793_645_200),
                tasks: vec![],
                truncated: 0,
            }),
            ..record()
        };
        assert_eq!(from_item(&to_item(&emptied)).expect("reads back"), emptied);
    }

    #[test]
    fn a_record_of_a_thousand_tasks_stays_far_below_the_item_limit() {
        let mut waiting = record();
        let groups = [
            "service:web-frontend",
            "service:checkout-api",
            "family:nightly-batch",
        ];
        waiting.alive = Some(AliveSet {
            taken_at: Timestamp(1_793_645_100),
            tasks: (0..drain_core::record::MAX_ALIVE_TASKS)
                .map(|id| alive_task(id, Some(groups[id % 3]), AliveKind::Replica))
                .collect(),
            truncated: 0,
        });
        let size = item_size(&to_item(&waiting));
        assert!(size < 100_000, "{size} bytes at 1,000 tasks");
        assert_eq!(from_item(&to_item(&waiting)).expect("reads back"), waiting);
    }

    /// What DynamoDB counts of an item: its attribute names plus their values.
    fn item_size(item: &Item) -> usize {
        item.iter()
            .map(|(name, value)| {
                name.len()
                    + match value {
                        AttributeValue::S(text) | AttributeValue::N(text) => text.len(),
                        AttributeValue::B(bytes) => bytes.as_ref().len(),
                        AttributeValue::L(list) => list
                            .iter()
                            .map(|entry| entry.as_s().map_or(8, String::len) + 3)
                            .sum(),
                        _ => 8,
                    }
            })
            .sum()
    }

    fn stopped_tasks(ids: std::ops::Range<usize>) -> KnownStopped {
        let arns: Vec<TaskArn> = ids
            .map(|id| alive_task(id, None, AliveKind::Replica).task_arn)
            .collect();
        KnownStopped::default().with(&arns)
    }

    #[test]
    fn the_known_stopped_tasks_round_trip_as_16_bytes_each_and_an_older_record_knows_none() {
        let waiting = DrainRecord {
            known_stopped: stopped_tasks(0..3),
            ..record()
        };
        let item = to_item(&waiting);
        assert_eq!(
            item.get(STOPPED_TASKS)
                .and_then(|value| value.as_b().ok())
                .map(|bytes| bytes.as_ref().len()),
            Some(3 * 16)
        );
        assert_eq!(from_item(&item).expect("reads back"), waiting);
        // A record written before the attribute existed (or knowing none) has no attribute.
        let mut older = item.clone();
        older.remove(STOPPED_TASKS);
        assert_eq!(
            from_item(&older).expect("reads back").known_stopped,
            KnownStopped::default()
        );
        assert!(!to_item(&record()).contains_key(STOPPED_TASKS));
        let mut torn = item.clone();
        torn.insert(
            STOPPED_TASKS.into(),
            AttributeValue::B(Blob::new(vec![0u8; 17])),
        );
        assert_eq!(
            from_item(&torn).expect_err("refused").to_string(),
            "drain record attribute stopped_tasks is missing or malformed"
        );
        let mut not_binary = item;
        not_binary.insert(STOPPED_TASKS.into(), text("00"));
        assert!(from_item(&not_binary).is_err(), "a text value is refused");
    }

    #[test]
    fn a_record_at_both_bounds_stays_far_below_the_item_limit() {
        use drain_core::record::{MAX_ALIVE_TASKS, MAX_KNOWN_STOPPED};
        let groups = [
            "service:web-frontend",
            "service:checkout-api",
            "family:nightly-batch",
        ];
        let full = DrainRecord {
            alive: Some(AliveSet {
                taken_at: Timestamp(1_793_645_100),
                tasks: (0..MAX_ALIVE_TASKS)
                    .map(|id| alive_task(id, Some(groups[id % 3]), AliveKind::Replica))
                    .collect(),
                truncated: 0,
            }),
            known_stopped: stopped_tasks(MAX_ALIVE_TASKS..MAX_ALIVE_TASKS + MAX_KNOWN_STOPPED + 10),
            ..record()
        };
        assert_eq!(full.known_stopped.len(), MAX_KNOWN_STOPPED);
        let size = item_size(&to_item(&full));
        // About 70 KB of alive set and 32 KB of STOPPED ids: a quarter of the 400 KB limit.
        assert!(size < 120_000, "{size} bytes at both bounds");
        assert_eq!(from_item(&to_item(&full)).expect("reads back"), full);
    }

    #[test]
    fn a_malformed_alive_line_is_refused_by_name() {
        let mut item = to_item(&DrainRecord {
            alive: Some(AliveSet {
                taken_at: Timestamp(1_793_645_100),
                tasks: vec![alive_task(1, Some("service:web"), AliveKind::Replica)],
                truncated: 0,
            }),
            ..record()
        });
        item.insert("alive_tasks".into(), text("prod/abc 7 replica RUNNING 1"));
        assert_eq!(
            from_item(&item).expect_err("refused").to_string(),
            "drain record attribute alive_tasks is missing or malformed"
        );
    }

    #[test]
    fn an_item_missing_its_status_is_refused_by_name() {
        let mut item = to_item(&record());
        item.remove("status");
        assert_eq!(
            from_item(&item).expect_err("refused").to_string(),
            "drain record attribute status is missing or malformed"
        );
    }
}
