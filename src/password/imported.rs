//! Password hashes brought over from the services sigil replaces: which are accepted before
//! they are stored (argon2 PHC strings and bcrypt, both with bounded cost).

use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Params, Version};

/// Largest bcrypt cost accepted (2^14 rounds: about 1 s of one core here).
pub const MAX_BCRYPT_COST: u32 = 14;
/// Largest argon2 memory accepted in an imported hash, in KiB (256 MiB).
const MAX_ARGON2_MEMORY_KIB: u32 = 262_144;
/// Largest argon2 pass count accepted in an imported hash.
const MAX_ARGON2_ITERATIONS: u32 = 16;
/// Largest argon2 lane count accepted in an imported hash.
const MAX_ARGON2_LANES: u32 = 16;

/// The kind of a stored password hash sigil can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashFormat {
    /// An argon2 PHC string (sigil's own: argon2id).
    Argon2,
    /// A bcrypt hash (`$2a$`, `$2b$` or `$2y$`), brought over from another service.
    Bcrypt,
}

/// Why a password hash brought from elsewhere is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashFormatError {
    /// Neither an argon2 PHC string nor a bcrypt hash.
    #[error("password_hash is neither an argon2 PHC string nor a bcrypt hash ($2a$, $2b$, $2y$)")]
    Unknown,
    /// A bcrypt hash that does not parse.
    #[error("password_hash is a malformed bcrypt hash")]
    MalformedBcrypt,
    /// A bcrypt cost outside 4..=14.
    #[error("password_hash has bcrypt cost {0}; 4 to {MAX_BCRYPT_COST} are accepted")]
    BcryptCost(u32),
    /// An argon2 PHC string that does not parse, or lacks its salt or output.
    #[error("password_hash is a malformed argon2 PHC string")]
    MalformedArgon2,
    /// argon2 parameters so costly that every login would be a denial of service.
    #[error(
        "password_hash has argon2 parameters above m={MAX_ARGON2_MEMORY_KIB}, t={MAX_ARGON2_ITERATIONS}, p={MAX_ARGON2_LANES}"
    )]
    Argon2Cost,
}

/// Checks a hash made by another service before it is stored: an argon2 PHC string
/// (argon2id, argon2i or argon2d, version 0x13, bounded parameters) or a bcrypt hash with
/// prefix `$2a$`, `$2b$` or `$2y$` and cost 4 to 14.
pub fn check_imported_hash(hash: &str) -> Result<HashFormat, HashFormatError> {
    if is_bcrypt(hash) {
        let parts: bcrypt::HashParts =
            hash.parse().map_err(|_| HashFormatError::MalformedBcrypt)?;
        let cost = parts.get_cost();
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(HashFormatError::BcryptCost(cost));
        }
        return Ok(HashFormat::Bcrypt);
    }
    if !hash.starts_with("$argon2") {
        return Err(HashFormatError::Unknown);
    }
    let parsed = PasswordHash::new(hash).map_err(|_| HashFormatError::MalformedArgon2)?;
    let (Some(_), Some(_)) = (parsed.salt, parsed.hash) else {
        return Err(HashFormatError::MalformedArgon2);
    };
    Algorithm::try_from(parsed.algorithm).map_err(|_| HashFormatError::MalformedArgon2)?;
    if parsed
        .version
        .is_some_and(|v| v != u32::from(Version::V0x13))
    {
        return Err(HashFormatError::MalformedArgon2);
    }
    let params = Params::try_from(&parsed).map_err(|_| HashFormatError::MalformedArgon2)?;
    if params.m_cost() > MAX_ARGON2_MEMORY_KIB
        || params.t_cost() > MAX_ARGON2_ITERATIONS
        || params.p_cost() > MAX_ARGON2_LANES
    {
        return Err(HashFormatError::Argon2Cost);
    }
    Ok(HashFormat::Argon2)
}

/// Whether `hash` claims to be bcrypt (the `$2x$` variant of a buggy implementation is not
/// accepted).
pub(super) fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix))
}
