//! Command line of the simulation: `--seed N` replays one seed with its event log,
//! `--seeds N [--start S]` runs many and prints the summary. `--launches off --spot off` runs the
//! terminate-only world.

use std::process::ExitCode;

use drain_sim::{Fault, Settings, run_many, run_seed};

const USAGE: &str = "usage: drain-sim [--seed N | --seeds N [--start S]] [--fault NAME] \
                     [--drop-rate P] [--crash-rate P] [--census-rule when-needed|every-look] \
                     [--late-visibility SECONDS] [--scheduler-latency SECONDS] \
                     [--launches on|off] [--spot on|off]
faults: none, census-ignores-stopping, services-look-like-daemons, store-ignores-revision, \
                     scheduler-loses-checks, census-trusts-the-set, agent-looks-connected, \
                     reactivation-lost, insert-overwrites";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut settings = Settings::default();
    let (mut seed, mut seeds, mut start) = (None, None, 0u64);
    let mut index = 0;
    while index < args.len() {
        let value = args.get(index + 1).map(String::as_str);
        let parsed = match (args[index].as_str(), value) {
            ("--seed", Some(v)) => v.parse().ok().map(|n| seed = Some(n)),
            ("--seeds", Some(v)) => v.parse().ok().map(|n| seeds = Some(n)),
            ("--start", Some(v)) => v.parse().ok().map(|n| start = n),
            ("--fault", Some(v)) => Fault::parse(v).map(|fault| settings.fault = fault),
            ("--drop-rate", Some(v)) => v.parse().ok().map(|p| settings.max_drop_rate = p),
            ("--crash-rate", Some(v)) => v.parse().ok().map(|p| settings.max_crash_rate = p),
            ("--late-visibility", Some(v)) => {
                v.parse().ok().map(|s| settings.late_visibility_max = s)
            }
            ("--census-rule", Some(v)) => drain_core::decision::look::CensusRule::parse(v)
                .map(|rule| settings.census_rule = rule),
            ("--scheduler-latency", Some(v)) => {
                v.parse().ok().map(|s| settings.scheduler_latency_max = s)
            }
            ("--launches", Some(v)) => on_off(v).map(|on| settings.launches = on),
            ("--spot", Some(v)) => on_off(v).map(|on| settings.spot = on),
            _ => None,
        };
        if parsed.is_none() {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        index += 2;
    }
    match (seed, seeds) {
        (Some(seed), None) => {
            settings.trace = true;
            let report = run_seed(seed, &settings);
            println!("{}", report.render());
            if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        (None, Some(count)) => {
            let threads = std::thread::available_parallelism().map_or(1, usize::from);
            let started = std::time::Instant::now();
            let summary = run_many(start, count, threads, &settings);
            println!("{summary}");
            println!(
                "wall time: {:.1?} on {threads} thread(s)",
                started.elapsed()
            );
            if let Some(&first) = summary.failed_seeds.first() {
                let fault = if settings.fault == Fault::None {
                    String::new()
                } else {
                    format!(" --fault {}", settings.fault.name())
                };
                println!(
                    "replay the first failure: cargo run -p drain-sim -- --seed {first}{fault}"
                );
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// `on` or `off`.
fn on_off(value: &str) -> Option<bool> {
    match value {
        "on" => Some(true),
        "off" => Some(false),
        _ => None,
    }
}
