//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the files it finds at
//! compile time, and cargo tracks only the files it already knows about.
fn main() {
    println!("cargo:rerun-if-changed=sqlite");
    println!("cargo:rerun-if-changed=postgres");
}
