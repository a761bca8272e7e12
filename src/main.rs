//! The `tessera` binary: parse the command line and dispatch.

/// Every request allocates; mimalloc's thread-local free lists make that a fraction of
/// the system allocator's cost.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let result = match tessera::cli::parse(std::env::args_os().collect()) {
        Ok(cli) => tessera::cli::run(cli).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let messages = e.chain().map(|cause| cause.to_string());
            eprintln!("error: {}", tessera::telemetry::join_causes(messages));
            std::process::ExitCode::FAILURE
        }
    }
}
