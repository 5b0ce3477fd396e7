//! Compiles `proto/` into the gRPC server and client code with the pure-Rust `protox`
//! compiler, so a build needs no system `protoc`. The encoded descriptor set (with comments)
//! is written beside the code for `grpc.reflection.v1`.

use std::path::PathBuf;

const PROTO_ROOT: &str = "proto";
const PROTO_FILES: [&str; 1] = ["sigil/v1/auth.proto"];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    let mut compiler = protox::Compiler::new([PROTO_ROOT])?;
    compiler.include_source_info(true);
    compiler.include_imports(true);
    for file in PROTO_FILES {
        compiler.open_file(file)?;
    }
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("sigil_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // prost's codec, but a malformed message is INVALID_ARGUMENT, not INTERNAL.
        .codec_path("crate::grpc::codec::ProtoCodec")
        .compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
