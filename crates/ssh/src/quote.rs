//! Commands as argument vectors, quoted by one function.
//!
//! No Gantry code builds a remote shell string by concatenating input. A
//! [`Cmd`] is a program plus arguments; [`quote`] turns each into a POSIX
//! shell word: safe characters pass through, anything else is wrapped in
//! single quotes with embedded quotes written as `'\''`. Inside single
//! quotes the shell interprets nothing (`$`, backticks, `;`, newlines are
//! literal). NUL cannot be represented in an argument and is rejected.

use std::fmt;

/// An argument that cannot be passed to a remote command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("argument {index} contains a NUL byte, which no command line can carry")]
pub struct QuoteError {
    /// Position of the bad argument (0 = program).
    pub index: usize,
}

/// Quotes one word for a POSIX shell.
pub fn quote(arg: &str) -> Result<String, QuoteError> {
    if arg.contains('\0') {
        return Err(QuoteError { index: 0 });
    }
    let safe = !arg.is_empty() && arg.bytes().all(|b| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b));
    if safe {
        return Ok(arg.to_string());
    }
    let mut out = String::with_capacity(arg.len() + 2);
    out.push('\'');
    for c in arg.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    Ok(out)
}

/// A remote command: program and arguments, never a shell string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    argv: Vec<String>,
}

impl Cmd {
    /// Starts a command with its program.
    pub fn new(program: impl Into<String>) -> Self {
        Self { argv: vec![program.into()] }
    }

    /// Adds one argument.
    pub fn arg(mut self, a: impl Into<String>) -> Self {
        self.argv.push(a.into());
        self
    }

    /// Adds several arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.argv.extend(args.into_iter().map(Into::into));
        self
    }

    /// Runs this command through `sudo -n` (never prompts: fails if a password is needed).
    pub fn sudo(self) -> Self {
        let mut argv = vec!["sudo".to_string(), "-n".to_string(), "--".to_string()];
        argv.extend(self.argv);
        Self { argv }
    }

    /// The argument vector.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The quoted command line sent to the server.
    pub fn to_command_line(&self) -> Result<String, QuoteError> {
        let mut words = Vec::with_capacity(self.argv.len());
        for (index, a) in self.argv.iter().enumerate() {
            words.push(quote(a).map_err(|_| QuoteError { index })?);
        }
        Ok(words.join(" "))
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_command_line() {
            Ok(s) => f.write_str(&s),
            Err(e) => write!(f, "<invalid command: {e}>"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_words_pass_and_others_are_single_quoted() {
        assert_eq!(quote("nginx"), Ok("nginx".into()));
        assert_eq!(quote("/etc/nginx/conf.d"), Ok("/etc/nginx/conf.d".into()));
        assert_eq!(quote(""), Ok("''".into()));
        assert_eq!(quote("a b"), Ok("'a b'".into()));
        assert_eq!(quote("it's"), Ok("'it'\\''s'".into()));
        assert_eq!(quote("$(reboot)"), Ok("'$(reboot)'".into()));
        assert_eq!(quote("x; rm -rf /"), Ok("'x; rm -rf /'".into()));
        assert_eq!(quote("a\nb"), Ok("'a\nb'".into()));
        assert!(quote("a\0b").is_err());
    }

    #[test]
    fn commands_report_the_bad_argument() {
        let c = Cmd::new("echo").arg("ok").arg("bad\0");
        assert_eq!(c.to_command_line(), Err(QuoteError { index: 2 }));
        assert_eq!(Cmd::new("true").sudo().to_command_line(), Ok("sudo -n -- true".into()));
    }
}
