//! The `sigil` binary: parse the command line, set up logging, dispatch.

use std::process::ExitCode;

use clap::Parser as _;
use sigil::app::Application;
use sigil::cli::{
    Cli, Command, LogFormat, run_audit_command, run_client_command, run_keys_command,
    run_user_command,
};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.into()),
    };
    let json = cli.log_format == LogFormat::Json;
    let outcome = runtime.block_on(async {
        let tracing = sigil::telemetry::init(json, cli.otlp_endpoint.as_deref())?;
        let outcome = run(cli.command).await;
        tracing.shutdown();
        outcome
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => {
            Application::build(args.into_config()?)
                .await?
                .run_until_stopped()
                .await
        }
        Command::Migrate(database) => {
            database.operator().await?;
            println!("migrations applied");
            Ok(())
        }
        Command::Client { command } => run_client_command(command).await,
        Command::Keys { command } => run_keys_command(command).await,
        Command::User { command } => run_user_command(command).await,
        Command::Audit { command } => run_audit_command(command).await,
        Command::Openapi => {
            print!("{}", sigil::http::openapi_json());
            Ok(())
        }
    }
}

/// One line naming what failed, and a non-zero exit.
fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("sigil: error: {error:#}");
    ExitCode::FAILURE
}
