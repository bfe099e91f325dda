# ecs-drain — the two set-up commands of the README, and the rest.
.PHONY: demo test bench package deploy undeploy fmt

## Local demo: a scale-in drained, then an instance refresh (a new instance joins, the old one
## drains), on the embedded AWS emulator, printed as timelines.
## KEEP=1: then leave the emulator and the world up (one drain done, one in flight) and print
## the drainctl commands to try against it, until Ctrl-C.
demo:
	bash scripts/bootstrap-python.sh --progress
	cargo run --quiet --locked -p drain-demo --bin demo $(if $(filter 1 yes true,$(KEEP)),-- --keep)

## Every test (what CI runs).
test:
	bash scripts/test.sh

## Benchmarks: print figures, assert nothing about speed.
bench:
	bash scripts/bench.sh

## Release zips of both functions (cargo-lambda + zig from PyPI), arm64 unless ARCH=x86_64.
package:
	bash scripts/package.sh $(ARCH)

deploy:
	bash infra/deploy.sh

undeploy:
	bash infra/undeploy.sh

fmt:
	cargo fmt --all
