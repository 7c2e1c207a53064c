//! A small typed client for the simulator.

use std::time::{Duration, Instant};

use gantry_pvesim::{DEMO_ROOT_PASSWORD, DEMO_TOKEN_SECRET, SimConfig, SimHandle, Simulator, Timing};
use serde_json::Value;

pub const ROOT_TOKEN: &str = "root@pam!gantry";

pub struct Api {
    pub sim: SimHandle,
    pub http: reqwest::Client,
    pub base: String,
    pub auth: Auth,
}

#[derive(Clone)]
pub enum Auth {
    Token(String),
    Ticket { ticket: String, csrf: String },
    None,
}

pub struct Resp {
    pub status: u16,
    pub body: Value,
}

impl Resp {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn message(&self) -> String {
        self.body["message"].as_str().unwrap_or_default().to_string()
    }
    #[track_caller]
    pub fn ok(&self) -> &Value {
        assert_eq!(self.status, 200, "unexpected answer: {}", self.body);
        self.data()
    }
}

pub fn fast_config() -> SimConfig {
    SimConfig { timing: Timing::fast(), ..SimConfig::default() }
}

pub fn client(pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(pem.as_bytes()).unwrap()])
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn start() -> Api {
    start_with(fast_config()).await
}

pub async fn start_with(cfg: SimConfig) -> Api {
    let sim = Simulator::start(cfg).await.unwrap();
    let http = client(&sim.cert_pem());
    let base = sim.urls()[0].clone();
    Api { sim, http, base, auth: Auth::Token(format!("{ROOT_TOKEN}={DEMO_TOKEN_SECRET}")) }
}

impl Api {
    pub async fn request_as(
        &self,
        auth: &Auth,
        base: &str,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Resp, reqwest::Error> {
        let url = format!("{base}/api2/json{path}");
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = if method == reqwest::Method::GET || method == reqwest::Method::DELETE {
            let query: String = params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
            let url = if query.is_empty() { url } else { format!("{url}?{query}") };
            self.http.request(method.clone(), &url)
        } else {
            let body: String = params.iter().map(|(k, v)| format!("{}={}", enc(k), enc(v))).collect::<Vec<_>>().join("&");
            self.http.request(method.clone(), &url).header("content-type", "application/x-www-form-urlencoded").body(body)
        };
        match auth {
            Auth::Token(t) => req = req.header("Authorization", format!("PVEAPIToken={t}")),
            Auth::Ticket { ticket, csrf } => {
                req = req.header("Cookie", format!("PVEAuthCookie={}", enc(ticket)));
                if method != reqwest::Method::GET {
                    req = req.header("CSRFPreventionToken", csrf);
                }
            }
            Auth::None => {}
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        Ok(Resp { status, body })
    }

    pub async fn call(&self, method: &str, path: &str, params: &[(&str, &str)]) -> Resp {
        self.request_as(&self.auth, &self.base, method, path, params).await.unwrap()
    }

    pub async fn get(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.call("GET", path, params).await
    }
    pub async fn post(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.call("POST", path, params).await
    }
    pub async fn put(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.call("PUT", path, params).await
    }
    pub async fn delete(&self, path: &str, params: &[(&str, &str)]) -> Resp {
        self.call("DELETE", path, params).await
    }

    pub async fn login(&self, user: &str, password: &str) -> Resp {
        self.request_as(&Auth::None, &self.base, "POST", "/access/ticket", &[("username", user), ("password", password)]).await.unwrap()
    }

    pub async fn root_ticket(&self) -> Auth {
        let r = self.login("root@pam", DEMO_ROOT_PASSWORD).await;
        let d = r.ok();
        Auth::Ticket { ticket: d["ticket"].as_str().unwrap().to_string(), csrf: d["CSRFPreventionToken"].as_str().unwrap().to_string() }
    }

    /// Polls a task on its own node until it stops; returns the final status object.
    pub async fn wait_task(&self, upid: &str) -> Value {
        let node = gantry_pvesim::parse_upid(upid).unwrap().node;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let r = self.get(&format!("/nodes/{node}/tasks/{}/status", enc(upid)), &[]).await;
            let d = r.ok().clone();
            if d["status"] == "stopped" {
                return d;
            }
            assert!(Instant::now() < deadline, "task {upid} did not finish");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn clone_vm(&self, node: &str, vmid: u32, newid: u32, extra: &[(&str, &str)]) -> Resp {
        let newid = newid.to_string();
        let mut params = vec![("newid", newid.as_str())];
        params.extend_from_slice(extra);
        self.post(&format!("/nodes/{node}/qemu/{vmid}/clone"), &params).await
    }
}

pub fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
