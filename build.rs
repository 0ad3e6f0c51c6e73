// The shared library carries a soname so that programs link against the ABI
// major version, not the unversioned development name.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libwalstore.so.0");
    println!("cargo:rerun-if-changed=build.rs");
}
