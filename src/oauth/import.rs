//! Bringing users over from the services sigil replaces: `sigil user import`. A file of JSON
//! lines (`email`, `password_hash`, optional `display_name`, `email_verified`, `admin`,
//! `created_at`) is read twice, a line at a time so memory stays bounded whatever its size:
//! first every line is checked and every bad one named, then, only when none is bad, all of
//! them are written in one transaction with their audit rows and `user.created` events.
//! A user whose email is taken is skipped unchanged, so running the same file again changes
//! nothing. Hashes are stored as they are (argon2 PHC or bcrypt); the first login replaces a
//! bcrypt hash with argon2id.

use std::collections::HashMap;
use std::io::{BufRead, Read as _, Seek, SeekFrom};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use sha2::{Digest as _, Sha256};

use super::admin::Admin;
use super::events;
use super::users::{Accounts, parse_display_name, user_details};
use crate::domain::Email;
use crate::oauth::Error;
use crate::password::check_imported_hash;
use crate::store::{AuditEntry, NewUser};

/// Longest line read, in bytes; a longer one is refused without being held in memory.
pub const MAX_LINE_BYTES: usize = 4096;
/// Bad lines kept with their reasons in a report; later ones are only counted.
const MAX_REPORTED: usize = 1000;

/// One line of an import file.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    email: String,
    password_hash: String,
    display_name: Option<String>,
    #[serde(default)]
    email_verified: bool,
    #[serde(default)]
    admin: bool,
    created_at: Option<DateTime<Utc>>,
}

/// A refused line of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// Its number, counting from 1.
    pub line: u64,
    /// Why it was refused.
    pub reason: String,
}

/// What an import did, or would have done.
#[derive(Debug, Default)]
pub struct ImportReport {
    /// Users written.
    pub imported: u64,
    /// Lines skipped because a user with the email exists already.
    pub existing: u64,
    /// The bad lines (the first 1,000); when there is any, nothing was imported.
    pub rejected: Vec<Rejection>,
    /// How many lines were bad in all.
    pub rejected_total: u64,
}

/// Where an import is, for a progress display.
#[derive(Debug, Clone, Copy)]
pub enum ImportProgress {
    /// Lines checked so far.
    Checked(u64),
    /// Lines written so far.
    Written(u64),
}

impl Accounts {
    /// Imports the users of `file` (see the module documentation) as `admin`. With any bad
    /// line nothing is written and the report names the bad lines. `progress` is told every
    /// 1,000 lines.
    #[tracing::instrument(skip_all)]
    pub async fn import<R: BufRead + Seek>(
        &self,
        admin: &Admin,
        file: &mut R,
        progress: &mut dyn FnMut(ImportProgress),
        now: DateTime<Utc>,
    ) -> Result<ImportReport, Error> {
        let report = check_file(file, progress).map_err(read_error)?;
        if report.rejected_total > 0 {
            return Ok(report);
        }
        file.seek(SeekFrom::Start(0)).map_err(read_error)?;
        self.write_file(admin, file, progress, now).await
    }

    /// The second pass: every line again, written in one transaction.
    async fn write_file<R: BufRead>(
        &self,
        admin: &Admin,
        file: &mut R,
        progress: &mut dyn FnMut(ImportProgress),
        now: DateTime<Utc>,
    ) -> Result<ImportReport, Error> {
        let mut report = ImportReport::default();
        let mut tx = self.store.begin().await?;
        let mut lines = Lines::new(file);
        while let Some((number, text)) = lines.next_line().map_err(read_error)? {
            // Checked in the first pass: a failure now means the file changed meanwhile.
            let new = text.and_then(|text| match text {
                Some(text) => parse(&text).and_then(|(line, email)| check(line, email).map(Some)),
                None => Ok(None),
            });
            let new = new.map_err(|reason| {
                Error::Internal(anyhow::anyhow!(
                    "line {number} changed during the import: {reason}"
                ))
            })?;
            let Some(new) = new else { continue };
            let created_at = new.created_at.unwrap_or(now);
            match tx.import_user(&new.user, (created_at, now)).await? {
                Some(user) => {
                    let entry = AuditEntry::new(admin.actor(), "user.import", now)
                        .target("user", user.id.as_str())
                        .details(user_details(&user));
                    tx.record(&entry).await?;
                    tx.emit(&events::user("created", &user, &[], now)).await?;
                    report.imported += 1;
                }
                None => report.existing += 1,
            }
            if number % 1000 == 0 {
                progress(ImportProgress::Written(number));
            }
        }
        tx.commit().await?;
        tracing::info!(
            imported = report.imported,
            existing = report.existing,
            "users imported"
        );
        Ok(report)
    }
}

fn read_error(error: std::io::Error) -> Error {
    Error::Internal(anyhow::Error::from(error).context("cannot read the import file"))
}

/// The first pass: every line parsed and checked, duplicates within the file found by a
/// 16-byte digest of each normalised email (bounded memory for any file).
fn check_file<R: BufRead>(
    file: &mut R,
    progress: &mut dyn FnMut(ImportProgress),
) -> std::io::Result<ImportReport> {
    let mut report = ImportReport::default();
    let mut seen: HashMap<[u8; 16], u64> = HashMap::new();
    let mut lines = Lines::new(file);
    while let Some((number, text)) = lines.next_line()? {
        let outcome = match text {
            Err(reason) => Err(reason),
            Ok(None) => Ok(()),
            Ok(Some(text)) => parse(&text).and_then(|(line, email)| {
                // Before the other checks: a second line for one address is named as such
                // even when the first line is bad for another reason.
                let digest = Sha256::digest(email.normalized().as_bytes());
                let key: [u8; 16] = digest[..16].try_into().unwrap_or_default();
                if let Some(first) = seen.get(&key) {
                    return Err(format!("duplicate email: also on line {first}"));
                }
                seen.insert(key, number);
                check(line, email).map(drop)
            }),
        };
        if let Err(reason) = outcome {
            report.rejected_total += 1;
            if report.rejected.len() < MAX_REPORTED {
                report.rejected.push(Rejection {
                    line: number,
                    reason,
                });
            }
        }
        if number % 1000 == 0 {
            progress(ImportProgress::Checked(number));
        }
    }
    Ok(report)
}

/// A checked line, ready to insert.
struct Parsed {
    user: NewUser,
    created_at: Option<DateTime<Utc>>,
}

/// Parses one line and its email; the reason it is refused.
fn parse(text: &str) -> Result<(Line, Email), String> {
    let line: Line = serde_json::from_str(text).map_err(|error| json_error(&error))?;
    let email = Email::parse(&line.email).map_err(|error| format!("email: {error}"))?;
    Ok((line, email))
}

/// A JSON error by column, never quoting a value of the line (it may be a hash).
fn json_error(error: &serde_json::Error) -> String {
    let message = error.to_string();
    let message = message
        .rfind(" at line ")
        .map_or(message.as_str(), |end| &message[..end]);
    let message = match message.starts_with("invalid type") || message.starts_with("invalid value")
    {
        true => "a field has the wrong type or value",
        false => message,
    };
    format!(
        "not a JSON object of the import format: {message} (column {})",
        error.column()
    )
}

/// Checks the rest of a parsed line; the reason it is refused, naming the field.
fn check(line: Line, email: Email) -> Result<Parsed, String> {
    check_imported_hash(&line.password_hash).map_err(|error| error.to_string())?;
    let display_name =
        parse_display_name(line.display_name.as_deref()).map_err(|error| error.to_string())?;
    Ok(Parsed {
        user: NewUser {
            email,
            password_hash: line.password_hash,
            display_name,
            is_admin: line.admin,
            email_verified: line.email_verified,
        },
        created_at: line.created_at,
    })
}

/// The lines of a file, numbered from 1, none held beyond `MAX_LINE_BYTES`.
struct Lines<'a, R> {
    file: &'a mut R,
    number: u64,
    buffer: Vec<u8>,
}

/// A line's text: `Ok(None)` when blank, `Err` with the reason when it is too long or not
/// UTF-8.
type LineText = Result<Option<String>, String>;

impl<'a, R: BufRead> Lines<'a, R> {
    fn new(file: &'a mut R) -> Self {
        Self {
            file,
            number: 0,
            buffer: Vec::with_capacity(MAX_LINE_BYTES + 1),
        }
    }

    /// The next line with its number; `None` at the end of the file.
    fn next_line(&mut self) -> std::io::Result<Option<(u64, LineText)>> {
        self.buffer.clear();
        let limit = (MAX_LINE_BYTES + 1) as u64;
        let read = (&mut *self.file)
            .take(limit)
            .read_until(b'\n', &mut self.buffer)?;
        if read == 0 {
            return Ok(None);
        }
        self.number += 1;
        if !self.buffer.ends_with(b"\n") && self.buffer.len() > MAX_LINE_BYTES {
            skip_rest_of_line(self.file)?;
            let why = format!("line longer than {MAX_LINE_BYTES} bytes");
            return Ok(Some((self.number, Err(why))));
        }
        let text = match std::str::from_utf8(&self.buffer) {
            Ok(text) => Ok(Some(text.trim())
                .filter(|text| !text.is_empty())
                .map(str::to_owned)),
            Err(_) => Err("line is not UTF-8".to_owned()),
        };
        Ok(Some((self.number, text)))
    }
}

/// Reads up to and including the next newline, keeping nothing.
fn skip_rest_of_line<R: BufRead>(file: &mut R) -> std::io::Result<()> {
    loop {
        let available = file.fill_buf()?;
        if available.is_empty() {
            return Ok(());
        }
        match available.iter().position(|&byte| byte == b'\n') {
            Some(end) => {
                file.consume(end + 1);
                return Ok(());
            }
            None => {
                let all = available.len();
                file.consume(all);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use secrecy::SecretString;

    use super::*;
    use crate::oauth::Grant;
    use crate::oauth::testing::Harness;

    /// Users with hashes made by other implementations (see the fixture's README).
    const FIXTURE: &str = include_str!("../../tests/fixtures/import/users.jsonl");

    async fn import(h: &Harness, file: &str) -> ImportReport {
        let mut file = Cursor::new(file.as_bytes().to_vec());
        let admin = h.admin();
        let mut progress = |_| {};
        let accounts = &h.sigil.accounts;
        let report = accounts.import(&admin, &mut file, &mut progress, h.now());
        report.await.unwrap()
    }

    #[tokio::test]
    async fn a_file_is_imported_with_an_audit_row_per_user_and_a_second_run_changes_nothing() {
        let h = Harness::new().await;

        let first = import(&h, FIXTURE).await;
        let second = import(&h, FIXTURE).await;

        assert_eq!((first.imported, first.existing), (7, 0));
        assert_eq!((second.imported, second.existing), (0, 7));
        assert_eq!(h.audit_rows("user.import").await.len(), 7);
    }

    #[tokio::test]
    async fn any_bad_line_imports_nothing_and_each_bad_line_is_named() {
        let h = Harness::new().await;
        let hash = "$2a$04$pZGwL6DlYtr/lrJHhz8HzO2BFNNsuFYqju7b6QtQgz2szp11O0.kO";
        let good = |email: &str| format!(r#"{{"email":"{email}","password_hash":"{hash}"}}"#);
        let long = format!(
            r#"{{"email":"x@example.com","password_hash":"{}"}}"#,
            "a".repeat(5000)
        );
        let file = [
            good("ok@example.com"),
            "{not json".to_owned(),
            r#"{"email":"u@example.com","password_hash":"$2a$04$x","role":"x"}"#.to_owned(),
            good("OK@example.com"),
            r#"{"email":"h@example.com","password_hash":"md5:abc"}"#.to_owned(),
            long,
            String::new(),
            good("also-ok@example.com"),
        ]
        .join("\n");

        let report = import(&h, &file).await;

        let lines: Vec<u64> = report.rejected.iter().map(|bad| bad.line).collect();
        assert_eq!(lines, [2, 3, 4, 5, 6], "{:?}", report.rejected);
        assert!(report.rejected[2].reason.contains("also on line 1"));
        assert!(
            report.rejected.iter().all(|bad| !bad.reason.contains(hash)),
            "no hash quoted"
        );
        assert_eq!(report.imported, 0);
        assert!(h.audit_rows("user.import").await.is_empty());
    }

    #[tokio::test]
    async fn a_go_bcrypt_user_logs_in_with_its_password_and_is_rehashed_to_argon2id() {
        let h = Harness::new().await;
        import(&h, FIXTURE).await;
        let client = h.public_client("password").await;
        let login = |password: &str| Grant::Password {
            username: "go-x-crypto@example.com".to_owned(),
            password: SecretString::from(password.to_owned()),
            scope: None,
        };

        let wrong = h
            .issue(&client, login("imported password for gopher"))
            .await;
        let right = h
            .issue(&client, login("imported password for go-x-crypto"))
            .await;

        assert!(wrong.is_err());
        assert!(right.is_ok(), "{right:?}");
        let email = Email::parse("go-x-crypto@example.com").unwrap();
        let user = h.sigil.accounts.store.find_user_by_email(&email).await;
        let hash = user.unwrap().unwrap().password_hash;
        assert!(hash.starts_with("$argon2id$"), "rehashed");
    }
}
