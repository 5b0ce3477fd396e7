//! `sigil keys export`: the published public keys as files for gateways that cannot fetch a
//! JWKS. Each file is written beside its final name and renamed over it (a reader sees the old
//! file or the new one, never half of one): key files first, the map last, then the PEM files
//! of keys that left the JWKS are removed. `--watch` checks the ring every `--interval` and
//! rewrites the directory when the published keys changed, until SIGINT or SIGTERM.

use std::path::Path;

use anyhow::Context as _;

use super::KeyExportArgs;
use crate::keys::{ExportFormat, ExportedFile};
use crate::oauth::Operator;

/// Runs `sigil keys export`.
pub(super) async fn export_keys(args: KeyExportArgs) -> anyhow::Result<()> {
    let format = match args.format.as_str() {
        "jwks" => ExportFormat::Jwks,
        _ => ExportFormat::Pem,
    };
    let operator = args.database.operator().await?;
    let Some(dir) = &args.dir else {
        for file in operator.export_keys(format).await? {
            print_file(&file, format);
        }
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = write_if_changed(&operator, format, dir, &[]).await?;
    if !args.watch {
        return Ok(());
    }
    let stop = crate::shutdown::stop_requested();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return Ok(()),
            () = tokio::time::sleep(args.interval) => {}
        }
        match write_if_changed(&operator, format, dir, &written).await {
            Ok(files) => written = files,
            // A database outage is waited out: the files on disk stay valid meanwhile.
            Err(error) => eprintln!("sigil keys export: {error:#}; retrying"),
        }
    }
}

/// Exports the keys and, when they differ from `previous`, writes them into `dir`; the files
/// now in `dir`.
async fn write_if_changed(
    operator: &Operator,
    format: ExportFormat,
    dir: &Path,
    previous: &[ExportedFile],
) -> anyhow::Result<Vec<ExportedFile>> {
    let files = operator.export_keys(format).await?;
    if files == previous {
        return Ok(files);
    }
    for file in &files {
        replace(dir, file)?;
    }
    if format == ExportFormat::Pem {
        remove_stale_pem_files(dir, &files)?;
    }
    let names: Vec<&str> = files.iter().map(|file| file.name.as_str()).collect();
    println!("exported to {}: {}", dir.display(), names.join(" "));
    Ok(files)
}

/// Writes `file` into `dir` through a temporary name and a rename.
fn replace(dir: &Path, file: &ExportedFile) -> anyhow::Result<()> {
    let target = dir.join(&file.name);
    let temporary = dir.join(format!(".{}.tmp", file.name));
    std::fs::write(&temporary, &file.contents)
        .with_context(|| format!("cannot write {}", temporary.display()))?;
    std::fs::rename(&temporary, &target)
        .with_context(|| format!("cannot replace {}", target.display()))
}

/// Removes the `.pem` files in `dir` that are not among `files`: keys no longer published.
fn remove_stale_pem_files(dir: &Path, files: &[ExportedFile]) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        if name.ends_with(".pem") && !files.iter().any(|file| file.name == name) {
            std::fs::remove_file(&path)
                .with_context(|| format!("cannot remove {}", path.display()))?;
        }
    }
    Ok(())
}

fn print_file(file: &ExportedFile, format: ExportFormat) {
    let text = String::from_utf8_lossy(&file.contents);
    match format {
        ExportFormat::Jwks => println!("{text}"),
        ExportFormat::Pem if file.name.ends_with(".pem") => print!("# {}\n{text}", file.name),
        ExportFormat::Pem => {}
    }
}
