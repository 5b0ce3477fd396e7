//! `sigil user import FILE|-`: opens the file (standard input is first copied to a temporary
//! file, since the import reads its input twice), runs the import, and prints the outcome:
//! counts, or every bad line with its number and reason (exit status 1, nothing imported).
//! Progress goes to standard error when it is a terminal.

use std::io::{BufReader, IsTerminal as _, Write as _};

use anyhow::Context as _;
use chrono::Utc;

use super::UserImportArgs;
use crate::oauth::{Admin, ImportProgress, ImportReport};

/// Runs `sigil user import`.
pub(super) async fn import_users(args: UserImportArgs) -> anyhow::Result<()> {
    let operator = args.database.operator().await?;
    let accounts = operator.importer()?;
    let file = open(&args.file)?;
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |at: ImportProgress| {
        if terminal {
            let (what, lines) = match at {
                ImportProgress::Checked(lines) => ("checked", lines),
                ImportProgress::Written(lines) => ("imported", lines),
            };
            eprint!("\r{what} {lines} lines");
            let _ = std::io::stderr().flush();
        }
    };
    let report = accounts
        .import(
            &Admin::command_line(),
            &mut reader,
            &mut progress,
            Utc::now(),
        )
        .await?;
    if terminal {
        eprintln!();
    }
    print_report(&report, args.json);
    if report.rejected_total > 0 {
        anyhow::bail!("nothing imported: {} bad line(s)", report.rejected_total);
    }
    Ok(())
}

/// The file, or standard input copied into an anonymous temporary file.
fn open(path: &std::path::Path) -> anyhow::Result<std::fs::File> {
    if path.as_os_str() != "-" {
        return std::fs::File::open(path)
            .with_context(|| format!("cannot open {}", path.display()));
    }
    let mut spool = tempfile::tempfile().context("cannot create a temporary file")?;
    std::io::copy(&mut std::io::stdin().lock(), &mut spool)
        .context("cannot read standard input")?;
    std::io::Seek::rewind(&mut spool).context("cannot read the temporary file")?;
    Ok(spool)
}

fn print_report(report: &ImportReport, json: bool) {
    if json {
        let rejected: Vec<_> = report
            .rejected
            .iter()
            .map(|bad| serde_json::json!({ "line": bad.line, "reason": bad.reason }))
            .collect();
        let out = serde_json::json!({
            "imported": report.imported,
            "existing": report.existing,
            "rejected": rejected,
            "rejected_total": report.rejected_total,
        });
        println!("{out}");
        return;
    }
    for bad in &report.rejected {
        eprintln!("line {}: {}", bad.line, bad.reason);
    }
    let unlisted = report.rejected_total - report.rejected.len() as u64;
    if unlisted > 0 {
        eprintln!("… and {unlisted} more bad line(s)");
    }
    if report.rejected_total == 0 {
        println!(
            "imported {} user(s); {} already present, left unchanged",
            report.imported, report.existing
        );
    }
}
