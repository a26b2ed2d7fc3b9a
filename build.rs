// Link settings for the `stylize` binary (and this package's tests):
// an rpath to libtorch, so it runs with no environment variable set (tch
// links libtorch dynamically and adds none); and, on a machine with an
// NVIDIA GPU, libtorch_cuda kept in the link (the linker drops it as
// unused otherwise, and CUDA is then unavailable: see tch's README).
// `models/build.rs` includes this file, for the models crate's tests.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=STYLIZE_CUDA");
    let Some(dir) = std::env::var_os("LIBTORCH") else { return };
    // For `stylize --version`: a pip torch's version.py, or libtorch's
    // build-version file.
    let dir = std::path::Path::new(&dir);
    let version = std::fs::read_to_string(dir.join("version.py"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("__version__ = ").map(|v| v.trim().trim_matches('\'').to_string()))
        })
        .or_else(|| std::fs::read_to_string(dir.join("build-version")).ok().map(|s| s.trim().to_string()));
    if let Some(v) = version {
        println!("cargo:rustc-env=STYLIZE_LIBTORCH_VERSION={v}");
    }
    let lib = dir.join("lib");
    println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    let gpu = std::env::var("STYLIZE_CUDA")
        .map(|v| v == "1")
        .unwrap_or_else(|_| std::path::Path::new("/dev/nvidiactl").exists());
    if gpu && lib.join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
