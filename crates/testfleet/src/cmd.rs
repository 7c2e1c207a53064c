//! Running external programs with errors that say what was run.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use crate::error::{FleetError, Result};

/// PATH for every program we run (and for commands run inside hosts).
///
/// Test runners often start tests without the sbin directories on PATH, but
/// `ip` and `sshd` live there; a fixed PATH also makes runs reproducible.
pub(crate) const SAFE_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A `Command` for a system tool, looked up on [`SAFE_PATH`].
pub(crate) fn tool(program: &str) -> Command {
    let mut c = Command::new(program);
    // std looks the program up on the child's PATH when it is set explicitly.
    c.env("PATH", SAFE_PATH);
    c
}

/// Finds `program` on [`SAFE_PATH`].
pub(crate) fn which(program: &str) -> Option<std::path::PathBuf> {
    SAFE_PATH.split(':').map(|d| std::path::Path::new(d).join(program)).find(|p| p.is_file())
}

/// Runs `cmd` to completion and fails unless it exits with status 0.
pub(crate) fn run(cmd: &mut Command) -> Result<Output> {
    let out = output(cmd)?;
    check(cmd, out)
}

/// Runs `cmd` to completion and returns its output whatever the exit status.
pub(crate) fn output(cmd: &mut Command) -> Result<Output> {
    // Nothing we run reads stdin; a closed stdin makes a prompt (ssh-keygen's
    // "Overwrite?") fail instead of hanging the test.
    cmd.stdin(Stdio::null());
    cmd.output().map_err(|source| FleetError::Spawn { program: program_of(cmd), source })
}

/// Runs `cmd` with `input` on stdin and fails unless it exits with status 0.
pub(crate) fn run_with_input(cmd: &mut Command, input: &str) -> Result<Output> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| FleetError::Spawn { program: program_of(cmd), source })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes()).map_err(|source| FleetError::Spawn { program: program_of(cmd), source })?;
        // Dropping stdin closes it, so the program sees EOF.
    }
    let out = child.wait_with_output().map_err(|source| FleetError::Spawn { program: program_of(cmd), source })?;
    check(cmd, out)
}

fn check(cmd: &Command, out: Output) -> Result<Output> {
    if out.status.success() {
        Ok(out)
    } else {
        Err(FleetError::CommandFailed {
            command: describe(cmd),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}

/// A shell-like rendering of the command for error messages.
pub(crate) fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for arg in cmd.get_args() {
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    s
}

fn program_of(cmd: &Command) -> String {
    cmd.get_program().to_string_lossy().into_owned()
}
