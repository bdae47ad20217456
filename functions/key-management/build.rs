//! Rebuilds the function when a file of the console it embeds (`console/`) changes.
fn main() {
    println!("cargo:rerun-if-changed=../../console");
}
