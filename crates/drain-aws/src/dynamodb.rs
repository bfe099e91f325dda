//! The DynamoDB adapter: one item per container instance, every write conditional.
//!
//! Key: `container_instance_arn` (S). TTL attribute: `expires_at` (epoch seconds). Times are
//! epoch seconds (N). Each write carries `revision`; a replace requires the stored revision
//! to be the one the writer read, so concurrent invocations cannot both move a drain.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use drain_core::DrainError;
use drain_core::census::AliveCounts;
use drain_core::decision::operator::AuditEntry;
use drain_core::ids::{
    AsgName, ClusterArn, ContainerInstanceArn, Ec2InstanceId, HookName, HookRef, LifecycleToken,
};
use drain_core::ports::{DrainStore, WriteOutcome};
use drain_core::record::{CensusSummary, DrainPhase, DrainRecord, DrainStatus, LifecycleResult};
use drain_core::time::Timestamp;

use crate::error::classify;

/// The partition key attribute.
pub const KEY: &str = "container_instance_arn";
/// The TTL attribute.
pub const TTL_ATTRIBUTE: &str = "expires_at";

type Item = HashMap<String, AttributeValue>;

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
        record: &DrainRecord,
        condition: &str,
        values: Option<(&str, AttributeValue)>,
    ) -> Result<WriteOutcome, DrainError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(record)))
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
    /// Every record in the table (a paginated Scan), for operators; the handlers never scan.
    /// Items that do not parse are returned as errors next to the ones that do.
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
        Ok(items.iter().map(from_item).collect())
    }
}

impl DrainStore for DynamoDrainStore {
    async fn load(
        &self,
        instance: &ContainerInstanceArn,
    ) -> Result<Option<DrainRecord>, DrainError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(KEY, AttributeValue::S(instance.to_string()))
            // The revision read must be the latest, or every conditional write would lose.
            .consistent_read(true)
            .send()
            .await
            .map_err(|error| classify("dynamodb:GetItem", error))?;
        output
            .item()
            .map(from_item)
            .transpose()
            .map_err(|error| DrainError::Permanent {
                operation: "dynamodb:GetItem",
                source: Box::new(error),
            })
    }

    async fn insert(&self, record: &DrainRecord) -> Result<WriteOutcome, DrainError> {
        self.put(record, "attribute_not_exists(container_instance_arn)", None)
            .await
    }

    async fn replace(
        &self,
        record: &DrainRecord,
        expected_revision: u64,
    ) -> Result<WriteOutcome, DrainError> {
        self.put(
            record,
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
    item
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
            stuck_services: item
                .get("stuck_services")
                .and_then(|value| value.as_l().ok())
                .map(|names| {
                    names
                        .iter()
                        .filter_map(|name| name.as_s().ok().cloned())
                        .collect()
                })
                .unwrap_or_default(),
        }),
    };
    Ok(DrainRecord {
        container_instance_arn: ContainerInstanceArn::new(text_of(KEY)?)?,
        cluster_arn: ClusterArn::new(text_of("cluster_arn")?)?,
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
    })
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
