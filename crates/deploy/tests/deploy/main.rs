#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The delivery artifacts under `deploy/`, the `Dockerfile` and
//! `.gitlab-ci.yml`, checked with the real tools each ecosystem uses:
//! shellcheck, systemd-analyze, a debootstrap root for the install script,
//! ansible-lint and Ansible's chroot connection, hadolint, kubectl kustomize,
//! kubernetes-validate, check-jsonschema, gitlab-ci-local and python-hcl2.
//!
//! `scripts/test` installs the tools. Everything here is one test binary. Without `CI=true`, a missing tool skips
//! its check with a loud message; with `CI=true` it fails the test.

pub mod support;

mod ansible;
mod infra;
mod install;
mod manifests;
mod pipeline;
