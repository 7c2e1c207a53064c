//! A small Prometheus registry that writes the classic text exposition format.
//!
//! Gantry writes its own rather than using an OpenMetrics encoder because the
//! text format is what `promtool check metrics` validates and what every
//! Prometheus version scrapes. Modules register their families at mount
//! time; values are kept per label set. Label values must come from bounded
//! sets (route templates, kinds, statuses), never raw paths or user ids.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, RwLock};

type Labels = Vec<String>;

enum Family {
    Counter(Mutex<BTreeMap<Labels, f64>>),
    Gauge(Mutex<BTreeMap<Labels, f64>>),
    Histogram {
        buckets: Vec<f64>,
        series: Mutex<BTreeMap<Labels, HistogramSeries>>,
    },
    /// Computed at scrape time (pool sizes, queue depth, memory).
    Collected(Box<dyn Fn() -> Vec<(Labels, f64)> + Send + Sync>, &'static str),
}

#[derive(Clone)]
struct HistogramSeries {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

struct Entry {
    name: String,
    help: String,
    label_names: Vec<&'static str>,
    family: Family,
}

/// The process-wide metric registry.
#[derive(Default, Clone)]
pub struct Registry {
    entries: Arc<RwLock<Vec<Arc<Entry>>>>,
}

/// A counter family; `inc` with one value per label name.
#[derive(Clone)]
pub struct Counter(Arc<Entry>);
/// A gauge family.
#[derive(Clone)]
pub struct Gauge(Arc<Entry>);
/// A histogram family.
#[derive(Clone)]
pub struct Histogram(Arc<Entry>);

/// Buckets for request and operation durations, in seconds.
pub const DURATION_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

fn key(values: &[&str]) -> Labels {
    values.iter().map(|v| (*v).to_string()).collect()
}

impl Registry {
    fn add(&self, name: &str, help: &str, label_names: &[&'static str], family: Family) -> Arc<Entry> {
        let e = Arc::new(Entry { name: name.into(), help: help.into(), label_names: label_names.to_vec(), family });
        if let Ok(mut es) = self.entries.write() {
            es.push(e.clone());
        }
        e
    }

    /// Registers a counter; `name` must end in `_total`.
    pub fn counter(&self, name: &str, help: &str, labels: &[&'static str]) -> Counter {
        Counter(self.add(name, help, labels, Family::Counter(Mutex::default())))
    }

    /// Registers a gauge set by code.
    pub fn gauge(&self, name: &str, help: &str, labels: &[&'static str]) -> Gauge {
        Gauge(self.add(name, help, labels, Family::Gauge(Mutex::default())))
    }

    /// Registers a histogram with the given bucket bounds.
    pub fn histogram(&self, name: &str, help: &str, labels: &[&'static str], buckets: &[f64]) -> Histogram {
        Histogram(self.add(name, help, labels, Family::Histogram { buckets: buckets.to_vec(), series: Mutex::default() }))
    }

    /// Registers a gauge (or, with `kind = "counter"`, a counter) computed at scrape time.
    pub fn collect(
        &self,
        name: &str,
        help: &str,
        labels: &[&'static str],
        kind: &'static str,
        f: impl Fn() -> Vec<(Vec<String>, f64)> + Send + Sync + 'static,
    ) {
        self.add(name, help, labels, Family::Collected(Box::new(f), kind));
    }

    /// Renders every family in the Prometheus text format (version 0.0.4).
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(8192);
        let Ok(entries) = self.entries.read() else {
            return out;
        };
        for e in entries.iter() {
            let kind = match &e.family {
                Family::Counter(_) => "counter",
                Family::Gauge(_) => "gauge",
                Family::Histogram { .. } => "histogram",
                Family::Collected(_, k) => k,
            };
            let _ = writeln!(out, "# HELP {} {}", e.name, escape_help(&e.help));
            let _ = writeln!(out, "# TYPE {} {}", e.name, kind);
            match &e.family {
                Family::Counter(m) | Family::Gauge(m) => {
                    if let Ok(m) = m.lock() {
                        for (labels, v) in m.iter() {
                            write_sample(&mut out, &e.name, &e.label_names, labels, None, *v);
                        }
                    }
                }
                Family::Collected(f, _) => {
                    for (labels, v) in f() {
                        write_sample(&mut out, &e.name, &e.label_names, &labels, None, v);
                    }
                }
                Family::Histogram { buckets, series } => {
                    let Ok(m) = series.lock() else { continue };
                    let bucket_name = format!("{}_bucket", e.name);
                    for (labels, s) in m.iter() {
                        let mut cumulative = 0u64;
                        for (i, b) in buckets.iter().enumerate() {
                            cumulative += s.counts[i];
                            write_sample(&mut out, &bucket_name, &e.label_names, labels, Some(&fmt_f64(*b)), cumulative as f64);
                        }
                        write_sample(&mut out, &bucket_name, &e.label_names, labels, Some("+Inf"), s.count as f64);
                        write_sample(&mut out, &format!("{}_sum", e.name), &e.label_names, labels, None, s.sum);
                        write_sample(&mut out, &format!("{}_count", e.name), &e.label_names, labels, None, s.count as f64);
                    }
                }
            }
        }
        out
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_value(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn fmt_f64(v: f64) -> String {
    if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

fn write_sample(out: &mut String, name: &str, names: &[&str], values: &[String], le: Option<&str>, v: f64) {
    out.push_str(name);
    if !names.is_empty() || le.is_some() {
        out.push('{');
        let mut first = true;
        for (n, val) in names.iter().zip(values) {
            if !first {
                out.push(',');
            }
            first = false;
            let _ = write!(out, "{n}=\"{}\"", escape_value(val));
        }
        if let Some(le) = le {
            if !first {
                out.push(',');
            }
            let _ = write!(out, "le=\"{le}\"");
        }
        out.push('}');
    }
    let _ = writeln!(out, " {}", fmt_f64(v));
}

impl Counter {
    /// Adds one for the given label values.
    pub fn inc(&self, labels: &[&str]) {
        self.add(labels, 1.0);
    }

    /// Adds `v` (non-negative) for the given label values.
    pub fn add(&self, labels: &[&str], v: f64) {
        if let Family::Counter(m) = &self.0.family
            && let Ok(mut m) = m.lock()
        {
            *m.entry(key(labels)).or_insert(0.0) += v.max(0.0);
        }
    }
}

impl Gauge {
    /// Sets the value for the given label values.
    pub fn set(&self, labels: &[&str], v: f64) {
        if let Family::Gauge(m) = &self.0.family
            && let Ok(mut m) = m.lock()
        {
            m.insert(key(labels), v);
        }
    }

    /// Removes a label set (e.g. a deleted server).
    pub fn remove(&self, labels: &[&str]) {
        if let Family::Gauge(m) = &self.0.family
            && let Ok(mut m) = m.lock()
        {
            m.remove(&key(labels));
        }
    }

    /// Replaces every series at once (a scrape never sees the family half-filled).
    pub fn replace(&self, series: impl IntoIterator<Item = (Vec<String>, f64)>) {
        if let Family::Gauge(m) = &self.0.family
            && let Ok(mut m) = m.lock()
        {
            *m = series.into_iter().collect();
        }
    }
}

impl Histogram {
    /// Records one observation.
    pub fn observe(&self, labels: &[&str], v: f64) {
        if let Family::Histogram { buckets, series } = &self.0.family
            && let Ok(mut m) = series.lock()
        {
            let s = m.entry(key(labels)).or_insert_with(|| HistogramSeries { counts: vec![0; buckets.len()], sum: 0.0, count: 0 });
            if let Some(i) = buckets.iter().position(|b| v <= *b) {
                s.counts[i] += 1;
            }
            s.sum += v;
            s.count += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_format_is_well_formed() {
        let r = Registry::default();
        let c = r.counter("t_requests_total", "Requests.", &["method", "route"]);
        c.inc(&["GET", "/a\"b"]);
        c.inc(&["GET", "/a\"b"]);
        let h = r.histogram("t_duration_seconds", "Durations.", &["route"], &[0.1, 1.0]);
        h.observe(&["/x"], 0.05);
        h.observe(&["/x"], 0.5);
        h.observe(&["/x"], 5.0);
        r.collect("t_up", "Up.", &[], "gauge", || vec![(vec![], 1.0)]);
        let text = r.encode();
        assert!(text.contains("# TYPE t_requests_total counter"));
        assert!(text.contains("t_requests_total{method=\"GET\",route=\"/a\\\"b\"} 2"));
        assert!(text.contains("t_duration_seconds_bucket{route=\"/x\",le=\"0.1\"} 1"));
        assert!(text.contains("t_duration_seconds_bucket{route=\"/x\",le=\"1\"} 2"));
        assert!(text.contains("t_duration_seconds_bucket{route=\"/x\",le=\"+Inf\"} 3"));
        assert!(text.contains("t_duration_seconds_count{route=\"/x\"} 3"));
        assert!(text.contains("t_up 1"));
    }
}
