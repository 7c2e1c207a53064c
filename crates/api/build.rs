//! Rebuild when the admin panel's built assets change, so a release binary
//! always embeds the current `web/dist`.
fn main() {
    println!("cargo:rerun-if-changed=../../web/dist");
}
