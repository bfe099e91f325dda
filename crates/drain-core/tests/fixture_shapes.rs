//! The event fixtures have the shapes AWS sends: every EventBridge fixture deserialises as
//! aws_lambda_events' `EventBridgeEvent`, every SNS fixture as its `SnsEvent` (whose message is
//! the Auto Scaling notification text), and each is also read by ecs-drain's own edge. A fixture
//! edited into a shape AWS never sends fails here before any story relies on it.

use std::path::PathBuf;

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use aws_lambda_events::event::sns::SnsEvent;
use serde_json::Value;

fn fixtures() -> Vec<(String, Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures");
    let mut all: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("tests/fixtures")
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable fixture");
            (
                path.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned(),
                serde_json::from_str(&text).expect("JSON fixture"),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

#[test]
fn every_eventbridge_and_sns_fixture_has_the_shape_aws_lambda_events_models() {
    let mut eventbridge = 0;
    let mut sns = 0;
    for (name, value) in fixtures() {
        if value.get("source").is_some() {
            let event: EventBridgeEvent<Value> = serde_json::from_value(value.clone())
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            assert!(!event.detail_type.is_empty(), "{name}: no detail-type");
            assert!(event.detail.is_object(), "{name}: detail is not an object");
            eventbridge += 1;
        } else if value.get("Records").is_some() {
            let event: SnsEvent = serde_json::from_value(value.clone())
                .unwrap_or_else(|error| panic!("{name}: {error}"));
            for record in &event.records {
                let message: Value = serde_json::from_str(&record.sns.message)
                    .unwrap_or_else(|error| panic!("{name}: message {error}"));
                assert!(message.is_object(), "{name}: the message is a JSON object");
            }
            sns += 1;
        }
    }
    // Not vacuous: the fixtures hold both channels.
    assert!(
        eventbridge >= 10 && sns >= 3,
        "{eventbridge} EventBridge and {sns} SNS fixtures"
    );
}
