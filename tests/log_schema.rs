//! One log schema (issue 13 §3), proven on the lines the built functions log during a whole
//! drain (notice, scheduled check, STOPPED events, the daemon stop, the completion): every
//! decision line names the drain under the same four keys, lists are JSON arrays, and each
//! Logs Insights query in the README selects lines that carry every field it shows.

use drain_core::logs::{ARRAY_FIELDS, DRAIN_KEYS};
use drain_testkit::events::{lifecycle_event, task_state_change_event};
use drain_testkit::runtime_api::FunctionProcess;
use drain_testkit::{Deployment, KitError, WorldSpec, project_root};
use serde_json::Value;

type TestResult = Result<(), KitError>;

/// The instance id the README's queries use as their example.
const README_INSTANCE: &str = "i-0598c7d356eba48d7";

async fn outcomes(function: &FunctionProcess, payload: &Value) -> Result<Vec<String>, KitError> {
    let invocation = function.invoke(payload).await?;
    let report = invocation.response().ok_or_else(|| {
        format!(
            "{} answered an error: {:?}",
            function.name(),
            invocation.result
        )
    })?;
    Ok(report["outcomes"]
        .as_array()
        .map(|all| {
            all.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default())
}

/// The value at a Logs Insights field path (`span.cluster`, `fields.task_arns.0`): objects by
/// key, arrays by index, the way Logs Insights flattens a JSON log event.
fn at<'a>(line: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(line, |value, part| match value {
        Value::Object(map) => map.get(part),
        Value::Array(items) => part.parse::<usize>().ok().and_then(|i| items.get(i)),
        _ => None,
    })
}

/// A README query, as far as the test reads it: the fields it shows (not `@` ones) and its
/// filter's `ispresent(P)` and `P = "v"` terms.
#[derive(Debug)]
struct Query {
    text: String,
    fields: Vec<String>,
    present: Vec<String>,
    equal: Vec<(String, String)>,
}

fn is_path(word: &str) -> bool {
    !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

fn parse_query(text: &str) -> Result<Query, KitError> {
    let mut query = Query {
        text: text.to_owned(),
        fields: Vec::new(),
        present: Vec::new(),
        equal: Vec::new(),
    };
    for clause in text.split('|').map(str::trim) {
        if let Some(list) = clause.strip_prefix("fields ") {
            for field in list.split(',').map(str::trim) {
                if !field.starts_with('@') {
                    query.fields.push(field.to_owned());
                }
            }
        } else if let Some(filter) = clause.strip_prefix("filter ") {
            for term in filter.split(" and ").map(str::trim) {
                if let Some(path) = term
                    .strip_prefix("ispresent(")
                    .and_then(|rest| rest.strip_suffix(')'))
                {
                    query.present.push(path.to_owned());
                } else if let Some((path, value)) = term.split_once('=') {
                    let value = value.trim().trim_matches('"');
                    query.equal.push((path.trim().to_owned(), value.to_owned()));
                } else {
                    return Err(format!("filter term the test cannot read: {term}").into());
                }
            }
        }
    }
    for path in query
        .fields
        .iter()
        .chain(&query.present)
        .chain(query.equal.iter().map(|(path, _)| path))
    {
        if !is_path(path) {
            return Err(format!("not a field path: {path} in {text}").into());
        }
    }
    Ok(query)
}

/// Every Logs Insights query in the README: code blocks whose first line starts `fields `.
fn readme_queries() -> Result<Vec<Query>, KitError> {
    let readme = std::fs::read_to_string(project_root().join("README.md"))?;
    let blocks: Vec<&str> = readme.split("```").skip(1).step_by(2).collect();
    blocks
        .into_iter()
        .map(|block| block.trim_start_matches('\n'))
        .filter(|block| block.starts_with("fields "))
        .map(parse_query)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_decision_line_names_the_drain_and_the_readme_queries_find_their_fields() -> TestResult
{
    // GIVEN the stack deployed for three instances running the standard services, and both
    // functions running as deployed
    let deployment = Deployment::start(WorldSpec::new("log-schema", 3)).await?;
    let world = &deployment.world;
    let tasks = world.populate_standard(0).await?;
    let on_lifecycle = deployment.spawn_on_lifecycle().await?;
    let on_task_stopped = deployment.spawn_on_task_stopped().await?;

    // WHEN a whole drain runs: the notice, a scheduled check, each replica's STOPPED event,
    // the standalone task's (daemons stopped), and the daemon's (completion)
    let action = world.scale_in(0).await?;
    assert_eq!(
        outcomes(&on_lifecycle, &lifecycle_event(&action)).await?,
        ["wait"]
    );
    let check = deployment.fire_booked_check(0).await?;
    assert_eq!(outcomes(&on_lifecycle, &check).await?, ["wait"]);
    for (position, (service, arn)) in tasks.replicas.iter().enumerate() {
        let event = world
            .replica_moves(service, arn, 1 + position % 2, 11 + position as i64)
            .await?;
        assert_eq!(outcomes(&on_task_stopped, &event).await?, ["wait"]);
    }
    world
        .stop_task(&tasks.standalone, "Essential container in task exited")
        .await?;
    let event = task_state_change_event(&world.describe_task(&tasks.standalone).await?, 20);
    assert_eq!(outcomes(&on_task_stopped, &event).await?, ["stop_daemons"]);
    let event = task_state_change_event(&world.describe_task(&tasks.daemon).await?, 30);
    assert_eq!(outcomes(&on_task_stopped, &event).await?, ["complete"]);

    let mut lines = on_lifecycle.json_logs();
    lines.extend(on_task_stopped.json_logs());
    let expected = [
        world.instances[0].ec2_id.clone(),
        world.instances[0].container_instance_arn.clone(),
        world.cluster_arn.clone(),
        drain_core::ids::LifecycleToken::new(action.token.clone())?
            .prefix()
            .to_owned(),
    ];

    // THEN every decision line, of both functions and every path, names the drain under the
    // same four keys
    let decisions: Vec<&Value> = lines
        .iter()
        .filter(|line| at(line, "fields.decision").is_some())
        .collect();
    assert!(decisions.len() >= 6, "{lines:#?}");
    for line in &decisions {
        for (key, value) in DRAIN_KEYS.iter().zip(&expected) {
            assert_eq!(
                at(line, &format!("span.{key}")).and_then(Value::as_str),
                Some(value.as_str()),
                "span.{key} on {line}"
            );
        }
    }
    // AND lists are arrays wherever they appear: the daemon stop names the daemon's ARN, and
    // the census lines list what the drain waits for
    for line in &lines {
        for field in ARRAY_FIELDS {
            if let Some(value) = at(line, &format!("fields.{field}")) {
                assert!(value.is_array(), "fields.{field} is not an array: {line}");
            }
        }
    }
    let stopped: Vec<&Value> = lines
        .iter()
        .filter(|line| {
            at(line, "fields.message").and_then(Value::as_str) == Some("daemon tasks asked to stop")
        })
        .collect();
    assert_eq!(stopped.len(), 1, "{lines:#?}");
    assert_eq!(
        at(stopped[0], "fields.task_arns"),
        Some(&serde_json::json!([tasks.daemon]))
    );
    assert_eq!(
        at(stopped[0], "fields.task_arns_omitted"),
        Some(&serde_json::json!(0))
    );
    let first_wait = lines
        .iter()
        .find_map(|line| at(line, "fields.waiting_tasks"))
        .and_then(Value::as_array)
        .ok_or("no line lists the waiting tasks")?;
    assert_eq!(first_wait.len(), 4, "{first_wait:?}");

    // AND each README query selects some of these lines, and every field it shows is on each
    let queries = readme_queries()?;
    assert!(queries.len() >= 4, "{queries:#?}");
    for query in &queries {
        let targeted: Vec<&Value> = lines
            .iter()
            .filter(|line| query.present.iter().all(|path| at(line, path).is_some()))
            .filter(|line| {
                query.equal.iter().all(|(path, value)| {
                    let value = if value == README_INSTANCE {
                        expected[0].as_str()
                    } else {
                        value.as_str()
                    };
                    at(line, path).and_then(Value::as_str) == Some(value)
                })
            })
            .collect();
        assert!(!targeted.is_empty(), "no line matches {}", query.text);
        for line in targeted {
            for field in &query.fields {
                assert!(
                    at(line, field).is_some(),
                    "{field} missing on a line `{}` selects: {line}",
                    query.text
                );
            }
        }
    }
    Ok(())
}

#[test]
fn the_query_reader_reads_what_the_readme_writes() -> TestResult {
    let query = parse_query(
        "fields @timestamp, fields.decision, span.cluster\n| filter ispresent(fields.decision) and span.ec2_instance_id = \"i-1\"\n| sort @timestamp asc",
    )?;
    assert_eq!(query.fields, ["fields.decision", "span.cluster"]);
    assert_eq!(query.present, ["fields.decision"]);
    assert_eq!(
        query.equal,
        [("span.ec2_instance_id".to_owned(), "i-1".to_owned())]
    );
    assert!(parse_query("fields x | filter @message like /y/").is_err());
    let line = serde_json::json!({"fields": {"task_arns": ["a", "b"]}});
    assert_eq!(
        at(&line, "fields.task_arns.1"),
        Some(&serde_json::json!("b"))
    );
    assert_eq!(at(&line, "fields.task_arns.2"), None);
    Ok(())
}
