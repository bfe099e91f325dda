//! Launch records in the drain table: key `launch#<EC2 instance id>` (never an ARN, so a
//! drain's item is never touched), the record as one JSON attribute, and beside it what
//! DynamoDB itself reads: `revision` for the conditional writes and `expires_at` for TTL.

use aws_sdk_dynamodb::types::AttributeValue;
use drain_core::DrainError;
use drain_core::launch_record::{LaunchRecord, is_launch_key};

use super::{Item, ItemError, KEY, TTL_ATTRIBUTE, number, text};

/// The attribute holding the record's JSON.
const RECORD_ATTRIBUTE: &str = "launch";
/// The attribute marking the item's kind, for operators reading the table.
const KIND_ATTRIBUTE: &str = "kind";

/// Whether an item is a launch record's.
pub(super) fn is_launch_item(item: &Item) -> bool {
    item.get(KEY)
        .and_then(|value| value.as_s().ok())
        .is_some_and(|key| is_launch_key(key))
}

/// The item of a launch record.
pub(super) fn to_item(record: &LaunchRecord) -> Result<Item, DrainError> {
    let json = serde_json::to_string(record).map_err(|error| DrainError::Permanent {
        operation: "dynamodb:PutItem",
        source: Box::new(error),
    })?;
    Ok(Item::from([
        (KEY.to_owned(), text(LaunchRecord::key(&record.instance_id))),
        (KIND_ATTRIBUTE.to_owned(), text("launch")),
        ("revision".to_owned(), number(record.revision as i64)),
        (
            TTL_ATTRIBUTE.to_owned(),
            number(record.expires_at.epoch_seconds()),
        ),
        (RECORD_ATTRIBUTE.to_owned(), AttributeValue::S(json)),
    ]))
}

/// The launch record of an item; the stored revision wins over the JSON's (it is what the
/// conditions compare).
pub(super) fn from_item(item: &Item) -> Result<LaunchRecord, ItemError> {
    let json = item
        .get(RECORD_ATTRIBUTE)
        .and_then(|value| value.as_s().ok())
        .ok_or(ItemError::Attribute(RECORD_ATTRIBUTE))?;
    let mut record: LaunchRecord =
        serde_json::from_str(json).map_err(|_| ItemError::Attribute(RECORD_ATTRIBUTE))?;
    record.revision = item
        .get("revision")
        .and_then(|value| value.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(ItemError::Attribute("revision"))?;
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drain_core::decision::launch::{LaunchPolicy, LaunchStart, start_launch};
    use drain_core::testing::sample;
    use drain_core::time::Timestamp;

    fn record() -> LaunchRecord {
        start_launch(
            LaunchStart {
                action: sample::lifecycle_action(),
                origin: None,
                destination: None,
                noticed_at: Timestamp(1_000),
                started_at: Timestamp(1_001),
                heartbeat_timeout_seconds: Some(300),
                retention_seconds: 86_400,
            },
            &LaunchPolicy::default(),
        )
    }

    #[test]
    fn a_launch_record_round_trips_under_its_own_key() {
        let mut record = record();
        record.revision = 3;
        let item = to_item(&record).expect("item");
        assert_eq!(
            item.get(KEY)
                .and_then(|v| v.as_s().ok())
                .map(String::as_str),
            Some("launch#i-0123456789abcdef0")
        );
        assert!(is_launch_item(&item));
        assert_eq!(from_item(&item).expect("record"), record);
        assert_eq!(
            item.get(TTL_ATTRIBUTE)
                .and_then(|v| v.as_n().ok())
                .map(String::as_str),
            Some("88300"),
            "TTL one retention after the deadline (1000 + 900 + 86400)"
        );
    }

    #[test]
    fn a_malformed_launch_item_is_refused_by_attribute() {
        let mut item = to_item(&record()).expect("item");
        item.insert(RECORD_ATTRIBUTE.to_owned(), text("{"));
        assert!(matches!(
            from_item(&item),
            Err(ItemError::Attribute("launch"))
        ));
    }
}
