//! Pure parts of collection: the `gantry_stats` log line, per-minute buckets,
//! nginx's `stub_status` page, and which byte ranges of which log files a
//! pass reads.
//!
//! Nothing here does I/O, so the rules that decide exactly-once counting
//! (which lines are complete, when a rotated file is finished) are tested
//! without a server.

use std::collections::BTreeMap;

/// Longest domain name a line may carry (DNS names are at most 253 characters).
const MAX_DOMAIN: usize = 253;

/// One request, as `log_format gantry_stats` writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    /// Start of the request's minute, Unix seconds.
    pub minute: i64,
    /// `$server_name`: the domain the request was routed to.
    pub domain: &'a str,
    /// `$status`.
    pub status: u16,
    /// `$bytes_sent`.
    pub bytes_sent: u64,
    /// The upstream time of the request in milliseconds (all attempts added up), if one answered.
    pub upstream_ms: Option<u64>,
}

/// `12.345` → 12345 ms; at most millisecond precision (nginx writes three decimals).
fn millis(s: &str) -> Option<u64> {
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty() || int.len() > 12 || !int.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut ms: u64 = int.parse::<u64>().ok()?.checked_mul(1000)?;
    let mut scale = 100;
    for b in frac.bytes().take(3) {
        ms += u64::from(b - b'0') * scale;
        scale /= 10;
    }
    Some(ms)
}

/// `$upstream_response_time`: `-` (no upstream answered), one time, or several
/// separated by `, ` (retries to the next server) and ` : ` (internal redirects
/// to another upstream group). A request's upstream time is their sum; `-`
/// entries among them add nothing. `None` when no entry is a time.
fn upstream(s: &str) -> Result<Option<u64>, ()> {
    let mut total: Option<u64> = None;
    for part in s.split([',', ':']).map(str::trim) {
        match part {
            "-" => {}
            p => {
                let ms = millis(p).ok_or(())?;
                total = Some(total.unwrap_or(0).saturating_add(ms));
            }
        }
    }
    Ok(total)
}

fn domain_ok(d: &str) -> bool {
    !d.is_empty() && d.len() <= MAX_DOMAIN && d.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'*'))
}

/// Parses one line (without its newline); `None` for anything that is not a
/// `gantry_stats` line. Domains are lower-cased as they are stored.
pub(crate) fn parse_line(raw: &[u8]) -> Option<Line<'_>> {
    let text = std::str::from_utf8(raw).ok()?;
    let mut f = text.split('\t');
    let (msec, domain, status, bytes, request_time, upstream_time) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    if f.next().is_some() {
        return None;
    }
    let at_ms = millis(msec)?;
    let seconds = i64::try_from(at_ms / 1000).ok()?;
    if !domain_ok(domain) || status.len() != 3 {
        return None;
    }
    let status: u16 = status.parse().ok()?;
    if !bytes.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let bytes_sent: u64 = bytes.parse().ok()?;
    millis(request_time)?;
    let upstream_ms = upstream(upstream_time).ok()?;
    Some(Line { minute: seconds - seconds % 60, domain, status, bytes_sent, upstream_ms })
}

/// Counts of one bucket (a domain's minute or hour).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Requests.
    pub requests: i64,
    /// Responses 200–299.
    pub status_2xx: i64,
    /// 300–399.
    pub status_3xx: i64,
    /// 400–499.
    pub status_4xx: i64,
    /// 500–599.
    pub status_5xx: i64,
    /// Anything else (1xx, nginx's 000 and 499 are 0xx/4xx; 6xx and beyond land here).
    pub status_other: i64,
    /// Bytes sent to clients.
    pub bytes_sent: i64,
    /// Sum of upstream times, ms.
    pub upstream_ms_sum: i64,
    /// Requests with an upstream time.
    pub upstream_count: i64,
    /// Longest upstream time, ms.
    pub upstream_ms_max: i64,
}

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Counts {
    /// Adds one request.
    pub fn add_line(&mut self, l: &Line<'_>) {
        self.requests += 1;
        match l.status {
            200..=299 => self.status_2xx += 1,
            300..=399 => self.status_3xx += 1,
            400..=499 => self.status_4xx += 1,
            500..=599 => self.status_5xx += 1,
            _ => self.status_other += 1,
        }
        self.bytes_sent = self.bytes_sent.saturating_add(i64_of(l.bytes_sent));
        if let Some(ms) = l.upstream_ms {
            self.upstream_ms_sum = self.upstream_ms_sum.saturating_add(i64_of(ms));
            self.upstream_count += 1;
            self.upstream_ms_max = self.upstream_ms_max.max(i64_of(ms));
        }
    }

    /// Adds another bucket's counts (folding minutes into hours, summing a range).
    pub fn merge(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.status_2xx += o.status_2xx;
        self.status_3xx += o.status_3xx;
        self.status_4xx += o.status_4xx;
        self.status_5xx += o.status_5xx;
        self.status_other += o.status_other;
        self.bytes_sent = self.bytes_sent.saturating_add(o.bytes_sent);
        self.upstream_ms_sum = self.upstream_ms_sum.saturating_add(o.upstream_ms_sum);
        self.upstream_count += o.upstream_count;
        self.upstream_ms_max = self.upstream_ms_max.max(o.upstream_ms_max);
    }
}

/// What one pass parsed: per (domain, minute) counts and the lines that did not parse.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Batch {
    /// (domain, minute start) → counts.
    pub buckets: BTreeMap<(String, i64), Counts>,
    /// Lines counted.
    pub lines: u64,
    /// Lines skipped because they did not parse.
    pub skipped: u64,
}

impl Batch {
    /// Parses the complete lines of `chunk` and returns how many bytes they
    /// span (up to and including the last newline); a trailing partial line is
    /// left for the next read. A chunk that fills the whole read window
    /// (`full`) without a single newline is one unparseable line and is
    /// consumed whole, so a pass can never get stuck on it.
    pub fn add_chunk(&mut self, chunk: &[u8], full: bool) -> usize {
        let Some(last) = chunk.iter().rposition(|b| *b == b'\n') else {
            if full && !chunk.is_empty() {
                self.skipped += 1;
                return chunk.len();
            }
            return 0;
        };
        for raw in chunk[..last].split(|b| *b == b'\n') {
            self.add_line(raw);
        }
        last + 1
    }

    /// Counts one line (without its newline).
    pub fn add_line(&mut self, raw: &[u8]) {
        if raw.is_empty() {
            return;
        }
        match parse_line(raw) {
            Some(l) => {
                self.lines += 1;
                self.buckets.entry((l.domain.to_ascii_lowercase(), l.minute)).or_default().add_line(&l);
            }
            None => self.skipped += 1,
        }
    }
}

/// nginx's `stub_status` page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stub {
    /// Open client connections, including waiting ones.
    pub active: i64,
    /// Accepted connections since nginx started.
    pub accepts: i64,
    /// Handled connections.
    pub handled: i64,
    /// Client requests since nginx started.
    pub requests: i64,
    /// Connections reading a request header.
    pub reading: i64,
    /// Connections writing a response.
    pub writing: i64,
    /// Idle keep-alive connections.
    pub waiting: i64,
}

/// Parses
/// ```text
/// Active connections: 2
/// server accepts handled requests
///  10 10 17
/// Reading: 0 Writing: 1 Waiting: 1
/// ```
pub(crate) fn parse_stub(text: &str) -> Option<Stub> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let active = lines.next()?.strip_prefix("Active connections:")?.trim().parse().ok()?;
    if lines.next()? != "server accepts handled requests" {
        return None;
    }
    let n: Vec<i64> = lines.next()?.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let [accepts, handled, requests] = n.as_slice() else { return None };
    let w: Vec<&str> = lines.next()?.split_whitespace().collect();
    let [r, reading, wr, writing, wa, waiting] = w.as_slice() else { return None };
    if (*r, *wr, *wa) != ("Reading:", "Writing:", "Waiting:") {
        return None;
    }
    Some(Stub {
        active,
        accepts: *accepts,
        handled: *handled,
        requests: *requests,
        reading: reading.parse().ok()?,
        writing: writing.parse().ok()?,
        waiting: waiting.parse().ok()?,
    })
}

/// Where a server's log reading stands: the file being followed and, after a
/// rotation, the rotated file still being finished.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Position {
    /// Inode of the followed file (`access.log`); 0 before the first pass saw one.
    pub inode: i64,
    /// Bytes of it already counted.
    pub offset: i64,
    /// A rotated file (inode, bytes counted) that nginx may still write to or that is not read to its end yet.
    pub rotated: Option<(i64, i64)>,
}

/// What a pass reads, from where, given the position and what `access.log` is now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Reads {
    /// The rotated file to finish: (inode, from offset).
    pub rotated: Option<(i64, i64)>,
    /// The followed file: (inode, from offset).
    pub current: Option<(i64, i64)>,
    /// An older rotated file given up because a second rotation overtook it (its unread lines are lost).
    pub abandoned: Option<i64>,
    /// The followed file shrank (copytruncate): it is read again from 0.
    pub truncated: bool,
}

/// Decides the reads: `now` is `access.log`'s (inode, size), if it exists.
///
/// - Same inode: continue from the offset; smaller than the offset means it
///   was truncated in place (copytruncate), so start at 0.
/// - Another inode (or none): the followed file was rotated away. It becomes
///   the rotated file to finish from its offset (found by inode next to the
///   log); the new file is read from 0.
/// - The rotated file's inode: it was moved back. It is followed again from
///   where its reading stood, never from 0.
pub(crate) fn plan(p: &Position, now: Option<(i64, i64)>) -> Reads {
    match now {
        Some((inode, size)) if inode == p.inode => {
            let truncated = size < p.offset;
            Reads { rotated: p.rotated, current: Some((inode, if truncated { 0 } else { p.offset })), abandoned: None, truncated }
        }
        Some((inode, size)) if p.rotated.is_some_and(|(r, _)| r == inode) => {
            let offset = p.rotated.map_or(0, |(_, o)| o);
            let truncated = size < offset;
            Reads {
                rotated: (p.inode != 0).then_some((p.inode, p.offset)),
                current: Some((inode, if truncated { 0 } else { offset })),
                abandoned: None,
                truncated,
            }
        }
        _ if p.inode == 0 => Reads { rotated: p.rotated, current: now.map(|(i, _)| (i, 0)), abandoned: None, truncated: false },
        _ => Reads {
            rotated: Some((p.inode, p.offset)),
            current: now.map(|(i, _)| (i, 0)),
            abandoned: p.rotated.map(|(i, _)| i),
            truncated: false,
        },
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
    use super::*;

    fn line(s: &str) -> Option<Line<'_>> {
        parse_line(s.as_bytes())
    }

    #[test]
    fn lines_parse_with_and_without_upstream_times() {
        let l = line("1733472143.123\tshop.example.test\t200\t612\t0.004\t0.003").unwrap();
        assert_eq!(l, Line { minute: 1733472120, domain: "shop.example.test", status: 200, bytes_sent: 612, upstream_ms: Some(3) });
        // No upstream answered (a redirect, a `return`, an unreachable backend before connect).
        let l = line("1733472143.999\ta.example.test\t301\t162\t0.000\t-").unwrap();
        assert_eq!((l.status, l.upstream_ms), (301, None));
        // Retries and internal redirects: the request's upstream time is the sum.
        assert_eq!(line("1.000\ta.test\t502\t0\t0.100\t0.010, 0.020").unwrap().upstream_ms, Some(30));
        assert_eq!(line("1.000\ta.test\t200\t5\t0.100\t0.010, - : 1.5").unwrap().upstream_ms, Some(1510));
        assert_eq!(line("1.000\ta.test\t502\t5\t0.100\t-, -").unwrap().upstream_ms, None);
        // Wildcards and upper case (nginx writes the configured name as is).
        assert_eq!(line("60.5\t*.Example.test\t404\t1\t0.001\t-").unwrap().domain, "*.Example.test");
    }

    #[test]
    fn garbage_lines_are_refused() {
        for bad in [
            "",
            "garbage",
            "1733472143.123 shop.example.test 200 612 0.004 0.003",
            "1733472143.123\tshop.example.test\t200\t612\t0.004",
            "1733472143.123\tshop.example.test\t200\t612\t0.004\t0.003\textra",
            "x\tshop.example.test\t200\t612\t0.004\t0.003",
            "-1.0\tshop.example.test\t200\t612\t0.004\t0.003",
            "1733472143.123\t\t200\t612\t0.004\t0.003",
            "1733472143.123\tevil.test\\x09injected\t200\t612\t0.004\t0.003",
            "1733472143.123\tshop example\t200\t612\t0.004\t0.003",
            "1733472143.123\tshop.example.test\t2000\t612\t0.004\t0.003",
            "1733472143.123\tshop.example.test\t20\t612\t0.004\t0.003",
            "1733472143.123\tshop.example.test\t200\t-5\t0.004\t0.003",
            "1733472143.123\tshop.example.test\t200\t612\tslow\t0.003",
            "1733472143.123\tshop.example.test\t200\t612\t0.004\t0.003,x",
            "1733472143.123\tshop.example.test\t200\t612\t0.004\t",
        ] {
            assert!(line(bad).is_none(), "accepted {bad:?}");
        }
        assert!(parse_line(b"1.0\t\xff\xfe\t200\t1\t0.1\t-").is_none());
        let long = format!("1.0\t{}\t200\t1\t0.1\t-", "a".repeat(254));
        assert!(line(&long).is_none());
    }

    #[test]
    fn chunks_count_complete_lines_once() {
        let mut b = Batch::default();
        let text = b"120.0\ta.test\t200\t10\t0.001\t0.002\n130.0\ta.test\t404\t5\t0.001\t-\nnot a line\n121.0\tb.test\t502\t7\t0.0";
        let used = b.add_chunk(text, false);
        assert_eq!(&text[used..], b"121.0\tb.test\t502\t7\t0.0", "the partial line waits for the next read");
        assert_eq!((b.lines, b.skipped), (2, 1));
        let a = b.buckets[&("a.test".to_string(), 120)];
        assert_eq!((a.requests, a.status_2xx, a.status_4xx, a.bytes_sent), (2, 1, 1, 15));
        assert_eq!((a.upstream_count, a.upstream_ms_sum, a.upstream_ms_max), (1, 2, 2));
        // The rest arrives: only the completed line is added.
        let used = b.add_chunk(b"121.0\tb.test\t502\t7\t0.01\t0.010, 0.020\n", false);
        assert_eq!(used, 37);
        assert_eq!(b.buckets[&("b.test".to_string(), 120)].status_5xx, 1);
        assert_eq!(b.buckets[&("b.test".to_string(), 120)].upstream_ms_max, 30);
        // A window without any newline is one bad line when full, nothing otherwise.
        assert_eq!(b.add_chunk(b"xxxx", false), 0);
        assert_eq!(b.add_chunk(b"xxxx", true), 4);
        assert_eq!(b.skipped, 2);
        // Minutes and case: buckets are per domain (lower-cased) and minute.
        b.add_chunk(b"179.9\tA.TEST\t100\t1\t0.000\t-\n180.0\ta.test\t200\t1\t0.000\t-\n", false);
        assert_eq!(b.buckets[&("a.test".to_string(), 120)].status_other, 1);
        assert_eq!(b.buckets[&("a.test".to_string(), 180)].requests, 1);
    }

    #[test]
    fn merged_counts_add_up_and_keep_the_maximum() {
        let mut a = Counts {
            requests: 2,
            status_2xx: 2,
            bytes_sent: 10,
            upstream_ms_sum: 5,
            upstream_count: 2,
            upstream_ms_max: 4,
            ..Counts::default()
        };
        a.merge(&Counts {
            requests: 1,
            status_5xx: 1,
            bytes_sent: 1,
            upstream_ms_sum: 3,
            upstream_count: 1,
            upstream_ms_max: 3,
            ..Counts::default()
        });
        assert_eq!((a.requests, a.status_2xx, a.status_5xx, a.bytes_sent, a.upstream_ms_sum, a.upstream_ms_max), (3, 2, 1, 11, 8, 4));
    }

    #[test]
    fn stub_status_parses() {
        let s =
            parse_stub("Active connections: 2 \nserver accepts handled requests\n 10 10 17 \nReading: 0 Writing: 1 Waiting: 1 \n").unwrap();
        assert_eq!(s, Stub { active: 2, accepts: 10, handled: 10, requests: 17, reading: 0, writing: 1, waiting: 1 });
        assert!(parse_stub("<html>404</html>").is_none());
        assert!(parse_stub("Active connections: 2\nserver accepts handled requests\n 10 10\nReading: 0 Writing: 1 Waiting: 1\n").is_none());
    }

    #[test]
    fn reads_follow_rotation_and_truncation() {
        let first = Position::default();
        assert_eq!(plan(&first, None), Reads::default(), "no log yet: nothing to read");
        assert_eq!(plan(&first, Some((7, 500))).current, Some((7, 0)), "a new log is read from its start");
        let at = Position { inode: 7, offset: 300, rotated: None };
        assert_eq!(plan(&at, Some((7, 500))), Reads { current: Some((7, 300)), ..Reads::default() });
        // copytruncate: same inode, smaller than what was read.
        assert_eq!(plan(&at, Some((7, 100))), Reads { current: Some((7, 0)), truncated: true, ..Reads::default() });
        // Renamed away, nginx not reopened yet: finish the old file, nothing else exists.
        assert_eq!(plan(&at, None), Reads { rotated: Some((7, 300)), ..Reads::default() });
        // Reopened: finish the old file from the offset, read the new one from 0.
        assert_eq!(plan(&at, Some((9, 40))), Reads { rotated: Some((7, 300)), current: Some((9, 0)), ..Reads::default() });
        // While the rotated file is finished, the new one is followed.
        let both = Position { inode: 9, offset: 40, rotated: Some((7, 350)) };
        assert_eq!(plan(&both, Some((9, 80))), Reads { rotated: Some((7, 350)), current: Some((9, 40)), ..Reads::default() });
        // A second rotation before the first was finished: the oldest is given up.
        assert_eq!(
            plan(&both, Some((11, 0))),
            Reads { rotated: Some((9, 40)), current: Some((11, 0)), abandoned: Some(7), truncated: false }
        );
        // Moved back: the rotated file is the log again and is followed from where it stood.
        assert_eq!(plan(&both, Some((7, 400))), Reads { rotated: Some((9, 40)), current: Some((7, 350)), ..Reads::default() });
        let back = Position { inode: 0, offset: 0, rotated: Some((7, 350)) };
        assert_eq!(plan(&back, Some((7, 400))), Reads { current: Some((7, 350)), ..Reads::default() });
        // The log went away while only the rotated file was left: keep finishing it.
        let only_rotated = Position { inode: 0, offset: 0, rotated: Some((7, 350)) };
        assert_eq!(plan(&only_rotated, None), Reads { rotated: Some((7, 350)), ..Reads::default() });
    }
}
