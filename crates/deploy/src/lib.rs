//! Gantry's delivery artifacts, as a test-only crate.
//!
//! The artifacts are not Rust: `deploy/install.sh` and its systemd unit, the
//! Ansible role, the `Dockerfile` and compose file, the kustomize tree, the
//! GitLab pipeline, and the Terraform and Kubespray files. This crate owns
//! their checks (`tests/deploy/`), which run the real tools against them and
//! install the built `gantry` binary into a clean Debian root. It is a crate
//! of its own so that those checks build and link in seconds, apart from the
//! application's integration-test binary, and so that no application crate
//! depends on it.
