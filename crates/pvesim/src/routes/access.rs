//! Access control: tickets, users, tokens, roles, ACLs and the caller's permissions.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::{Call, flag, split_list};
use crate::auth::{self, Caller};
use crate::error::ApiError;
use crate::state::{Token, User};

pub(crate) async fn ticket(c: Call) -> Result<Value, ApiError> {
    let username = c.params.req("username")?.to_string();
    let password = c.params.req("password")?.to_string();
    let userid = match (username.contains('@'), c.params.str("realm")) {
        (false, Some(realm)) => format!("{username}@{realm}"),
        _ => username,
    };
    let fail = || ApiError::new(401, "authentication failure");
    let ok = if password.starts_with("PVE:") {
        // Renewal: a still-valid ticket of the same user works as password.
        auth::verify_ticket(&c.sim, &password).is_some_and(|u| u == userid)
    } else {
        let cluster = c.sim.cluster();
        let now = chrono::Utc::now().timestamp().max(0) as u64;
        cluster
            .users
            .get(&userid)
            .is_some_and(|u| u.enable && (u.expire == 0 || u.expire > now) && u.password.as_deref() == Some(password.as_str()))
    };
    if !ok {
        tracing::info!(%userid, "authentication failure");
        return Err(fail());
    }
    let (ticket, csrf) = auth::issue_ticket(&c.sim, &userid);
    Ok(json!({
        "username": userid, "ticket": ticket, "CSRFPreventionToken": csrf,
        "clustername": c.sim.cfg.cluster_name,
        "cap": {"vms": {}, "storage": {}, "access": {}, "nodes": {}, "dc": {}, "sdn": {}, "mapping": {}},
    }))
}

fn user_json(id: &str, u: &User, full: bool) -> Value {
    let realm = id.rsplit('@').next().unwrap_or("pve");
    let mut v = json!({
        "userid": id, "enable": flag(u.enable), "expire": u.expire, "realm-type": realm,
    });
    for (k, f) in [("email", &u.email), ("comment", &u.comment), ("firstname", &u.firstname), ("lastname", &u.lastname)] {
        if let Some(val) = f {
            v[k] = json!(val);
        }
    }
    if full {
        v["tokens"] = Value::Array(
            u.tokens
                .iter()
                .map(|(t, tok)| {
                    let mut v = json!({"tokenid": t, "privsep": flag(tok.privsep), "expire": tok.expire});
                    if let Some(cm) = &tok.comment {
                        v["comment"] = json!(cm);
                    }
                    v
                })
                .collect(),
        );
    }
    v
}

pub(crate) async fn list_users(c: Call) -> Result<Value, ApiError> {
    let full = c.params.bool("full") == Some(true);
    let enabled = c.params.bool("enabled");
    let cluster = c.sim.cluster();
    Ok(Value::Array(
        cluster.users.iter().filter(|(_, u)| enabled.is_none_or(|e| u.enable == e)).map(|(id, u)| user_json(id, u, full)).collect(),
    ))
}

fn no_user(id: &str) -> ApiError {
    ApiError::internal(format!("no such user ('{id}')"))
}

pub(crate) async fn get_user(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("userid")?;
    let cluster = c.sim.cluster();
    let u = cluster.users.get(id).ok_or_else(|| no_user(id))?;
    Ok(user_json(id, u, true))
}

pub(crate) async fn create_user(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("userid")?.to_string();
    let realm = id.rsplit('@').next().unwrap_or_default();
    if !matches!(realm, "pam" | "pve") {
        return Err(ApiError::internal(format!("create user failed: domain '{realm}' does not exist")));
    }
    let mut cluster = c.sim.cluster();
    if cluster.users.contains_key(&id) {
        return Err(ApiError::internal(format!("create user failed: user '{id}' already exists")));
    }
    cluster.users.insert(
        id,
        User {
            password: c.params.string("password"),
            enable: c.params.bool("enable").unwrap_or(true),
            expire: c.params.u32("expire")?.map(u64::from).unwrap_or(0),
            email: c.params.string("email").filter(|e| !e.is_empty()),
            comment: c.params.string("comment"),
            firstname: c.params.string("firstname"),
            lastname: c.params.string("lastname"),
            privileges: BTreeSet::new(),
            tokens: BTreeMap::new(),
        },
    );
    Ok(Value::Null)
}

pub(crate) async fn update_user(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("userid")?.to_string();
    let expire = c.params.u32("expire")?;
    let mut cluster = c.sim.cluster();
    let u = cluster.users.get_mut(&id).ok_or_else(|| ApiError::internal(format!("update user failed: no such user ('{id}')")))?;
    if let Some(e) = c.params.bool("enable") {
        u.enable = e;
    }
    if let Some(e) = expire {
        u.expire = u64::from(e);
    }
    if let Some(v) = c.params.string("email") {
        u.email = Some(v).filter(|s| !s.is_empty());
    }
    if let Some(v) = c.params.string("comment") {
        u.comment = Some(v);
    }
    if let Some(v) = c.params.string("firstname") {
        u.firstname = Some(v);
    }
    if let Some(v) = c.params.string("lastname") {
        u.lastname = Some(v);
    }
    Ok(Value::Null)
}

pub(crate) async fn delete_user(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("userid")?.to_string();
    let mut cluster = c.sim.cluster();
    if cluster.users.remove(&id).is_none() {
        return Err(ApiError::internal(format!("delete user failed: no such user ('{id}')")));
    }
    let token_prefix = format!("{id}!");
    cluster.acls.retain(|(_, _, ugid, _), _| *ugid != id && !ugid.starts_with(&token_prefix));
    cluster.tickets.retain(|_, (u, _)| *u != id);
    Ok(Value::Null)
}

pub(crate) async fn create_token(c: Call) -> Result<Value, ApiError> {
    let id = c.params.req("userid")?.to_string();
    let tokenid = c.params.req("tokenid")?.to_string();
    let privsep = c.params.bool("privsep").unwrap_or(true);
    let expire = c.params.u32("expire")?.map(u64::from).unwrap_or(0);
    let comment = c.params.string("comment");
    let mut cluster = c.sim.cluster();
    let u = cluster.users.get_mut(&id).ok_or_else(|| no_user(&id))?;
    if u.tokens.contains_key(&tokenid) {
        return Err(ApiError::internal("Token already exists."));
    }
    let secret = crate::state::uuid();
    u.tokens.insert(tokenid.clone(), Token { secret: secret.clone(), privsep, comment: comment.clone(), expire });
    let mut info = json!({"privsep": flag(privsep), "expire": expire});
    if let Some(cm) = comment {
        info["comment"] = json!(cm);
    }
    Ok(json!({"full-tokenid": format!("{id}!{tokenid}"), "info": info, "value": secret}))
}

pub(crate) async fn roles(_c: Call) -> Result<Value, ApiError> {
    Ok(Value::Array(
        auth::builtin_roles().into_iter().map(|(id, privs)| json!({"roleid": id, "privs": privs.join(","), "special": 1})).collect(),
    ))
}

pub(crate) async fn get_acl(c: Call) -> Result<Value, ApiError> {
    let cluster = c.sim.cluster();
    Ok(Value::Array(
        cluster
            .acls
            .iter()
            .map(|((path, kind, ugid, role), propagate)| {
                json!({"path": path, "type": kind, "ugid": ugid, "roleid": role, "propagate": flag(*propagate)})
            })
            .collect(),
    ))
}

pub(crate) async fn put_acl(c: Call) -> Result<Value, ApiError> {
    let path = c.params.req("path")?.to_string();
    if !path.starts_with('/') || path.contains("//") {
        return Err(ApiError::param("path", format!("invalid ACL path '{path}'")));
    }
    let path = if path.len() > 1 { path.trim_end_matches('/').to_string() } else { path };
    let roles = split_list(c.params.req("roles")?);
    let propagate = c.params.bool("propagate").unwrap_or(true);
    let delete = c.params.bool("delete") == Some(true);
    let known = auth::builtin_roles();
    let mut cluster = c.sim.cluster();
    for r in &roles {
        if !known.contains_key(r.as_str()) {
            return Err(ApiError::internal(format!("role '{r}' does not exist")));
        }
    }
    let mut subjects = Vec::new();
    for u in c.params.str("users").map(split_list).unwrap_or_default() {
        if !delete && !cluster.users.contains_key(&u) {
            return Err(ApiError::internal(format!("user '{u}' does not exist")));
        }
        subjects.push(("user".to_string(), u));
    }
    for t in c.params.str("tokens").map(split_list).unwrap_or_default() {
        let exists = t.split_once('!').and_then(|(u, id)| cluster.users.get(u).map(|u| u.tokens.contains_key(id))).unwrap_or(false);
        if !delete && !exists {
            return Err(ApiError::internal(format!("no such token '{t}'")));
        }
        subjects.push(("token".to_string(), t));
    }
    for g in c.params.str("groups").map(split_list).unwrap_or_default() {
        if !delete {
            return Err(ApiError::internal(format!("group '{g}' does not exist")));
        }
        subjects.push(("group".to_string(), g));
    }
    for (kind, ugid) in subjects {
        for r in &roles {
            let key = (path.clone(), kind.clone(), ugid.clone(), r.clone());
            if delete {
                cluster.acls.remove(&key);
            } else {
                cluster.acls.insert(key, propagate);
            }
        }
    }
    Ok(Value::Null)
}

pub(crate) async fn permissions(c: Call) -> Result<Value, ApiError> {
    let caller = c.caller()?.clone();
    let target = match c.params.string("userid") {
        Some(u) if u != caller.userid && caller.tokenid.as_deref() != Some(u.as_str()) => {
            if !auth::has_privilege(&c.sim.cluster(), &caller, "/access", "Sys.Audit") {
                return Err(ApiError::forbidden("/access", "Sys.Audit"));
            }
            match u.split_once('!') {
                Some((user, _)) => Caller { userid: user.to_string(), tokenid: Some(u.clone()) },
                None => Caller { userid: u, tokenid: None },
            }
        }
        _ => caller,
    };
    let cluster = c.sim.cluster();
    let paths: BTreeSet<String> = match c.params.string("path") {
        Some(p) => BTreeSet::from([p]),
        None => {
            let mut set: BTreeSet<String> =
                ["/", "/access", "/nodes", "/pool", "/storage", "/vms", "/sdn"].iter().map(|s| s.to_string()).collect();
            set.extend(cluster.acls.keys().map(|(p, _, _, _)| p.clone()));
            set
        }
    };
    let mut out = serde_json::Map::new();
    for p in paths {
        let privs = auth::privileges(&cluster, &target, &p);
        if privs.is_empty() {
            continue;
        }
        out.insert(p, Value::Object(privs.into_iter().map(|pr| (pr, json!(1))).collect()));
    }
    Ok(Value::Object(out))
}
