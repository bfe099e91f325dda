//! Bad input never panics a handler and never changes state: arbitrary JSON, and real fixtures
//! with fields removed or replaced by values of the wrong type, go through both handlers over
//! in-memory ports; each is acknowledged (or refused with a reason), and no mutating call is made
//! unless the payload is still a valid event.

mod support;

use support::{MUTATING, fixture};

use std::sync::Arc;

use drain_core::handler::{handle_lifecycle, handle_task_stopped};
use drain_core::ports::PortSet;
use drain_core::testing::ManualClock;
use drain_core::testing::memory::{
    CallLog, MemoryCluster, MemoryHooks, MemoryScheduler, MemoryStore,
};
use drain_core::time::Timestamp;
use drain_core::{Config, Drainer};
use proptest::prelude::*;
use serde_json::{Value, json};

type World =
    Drainer<PortSet<MemoryCluster, MemoryHooks, MemoryStore, MemoryScheduler, Arc<ManualClock>>>;

fn drainer(log: &CallLog) -> World {
    Drainer::new(
        PortSet {
            cluster: MemoryCluster::new(log.clone()),
            hooks: MemoryHooks::new(log.clone()),
            store: MemoryStore::new(log.clone()),
            scheduler: MemoryScheduler::new(log.clone()),
            clock: Arc::new(ManualClock::new(Timestamp(1_793_645_030))),
        },
        Config::with_table("drains"),
    )
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        "[ -~]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("aws.autoscaling"),
            Just("aws.ecs"),
            Just("STOPPED"),
            Just("detail-type"),
            Just("Records")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    "[a-zA-Z-]{1,10}".boxed(),
                    prop_oneof![
                        Just("detail-type".to_owned()),
                        Just("source".to_owned()),
                        Just("detail".to_owned()),
                        Just("Records".to_owned()),
                        Just("ecsDrainCheck".to_owned()),
                        Just("Sns".to_owned()),
                        Just("Message".to_owned()),
                    ]
                    .boxed(),
                ],
                inner,
                0..6
            )
            .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A fixture with one field (at any depth) removed or replaced by a value of another type.
fn mutated_fixture() -> impl Strategy<Value = Value> {
    let names = prop_oneof![
        Just("lifecycle-terminate-eventbridge.json"),
        Just("lifecycle-terminate-sns.json"),
        Just("lifecycle-test-notification-sns.json"),
        Just("ecs-task-stopped-service.json"),
        Just("ecs-task-stopped-daemon.json"),
    ];
    let replacement = prop_oneof![
        Just(Value::Null),
        Just(json!(42)),
        Just(json!([])),
        Just(json!({})),
        Just(json!("")),
        Just(json!("x y"))
    ];
    (
        names,
        any::<prop::sample::Index>(),
        prop::option::of(replacement),
    )
        .prop_map(|(name, index, replacement)| {
            let mut value = fixture(name);
            let mut paths = Vec::new();
            collect_paths(&value, &mut Vec::new(), &mut paths);
            let path = index.get(&paths).clone();
            mutate(&mut value, &path, replacement);
            value
        })
}

fn collect_paths(value: &Value, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(map) = value {
        for (key, child) in map {
            prefix.push(key.clone());
            out.push(prefix.clone());
            collect_paths(child, prefix, out);
            prefix.pop();
        }
    }
}

fn mutate(value: &mut Value, path: &[String], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut target = value;
    for key in parents {
        target = &mut target[key.as_str()];
    }
    if let Value::Object(map) = target {
        match replacement {
            Some(new) => {
                map.insert(last.clone(), new);
            }
            None => {
                map.remove(last);
            }
        }
    }
}

fn run(payload: &Value) -> (CallLog, bool) {
    let log = CallLog::default();
    let drainer = drainer(&log);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let (lifecycle, task) = runtime.block_on(async {
        (
            handle_lifecycle(
                &drainer,
                payload,
                &drain_core::decision::verify::FunctionIdentity::default(),
            )
            .await,
            handle_task_stopped(&drainer, payload).await,
        )
    });
    (log, lifecycle.is_ok() && task.is_ok())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_is_acknowledged_and_changes_nothing(payload in arbitrary_json()) {
        let (log, acknowledged) = run(&payload);
        prop_assert!(acknowledged, "in-memory ports never fail, so every input is acknowledged");
        let calls = log.calls();
        prop_assert!(
            calls.iter().all(|call| !MUTATING.contains(call)),
            "mutating call for {payload}: {calls:?}"
        );
    }

    #[test]
    fn a_fixture_with_a_broken_field_never_panics(payload in mutated_fixture()) {
        // The world is empty (no ECS instance, no drain), so even a payload that stays valid may at
        // most complete an unknown instance's action with CONTINUE, and never touches state.
        let (log, acknowledged) = run(&payload);
        prop_assert!(acknowledged);
        let writes = log
            .calls()
            .into_iter()
            .filter(|call| {
                *call != "autoscaling:CompleteLifecycleAction" && MUTATING.contains(call)
            })
            .count();
        prop_assert_eq!(writes, 0);
    }
}
