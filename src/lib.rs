//! Test support for ecs-drain's integration and end-to-end tests (tests/): starting the local
//! AWS emulator, building SDK clients pointed at it, loading fixtures.
