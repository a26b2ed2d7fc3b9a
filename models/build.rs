// The same link settings as the `stylize` binary's (see ../build.rs), for
// this crate's tests: the CUDA tests above all need libtorch_cuda linked.
include!("../build.rs");
