// `sqlx::migrate!` embeds the migrations at compile time but does not track their folder:
// without this, a new migration file leaves a stale build.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
