//! SSH signatures on commits, the way git makes them with
//! `gpg.format=ssh`: the commit buffer is signed by `ssh-keygen -Y sign -n
//! git` and stored in the commit's `gpgsig` header, so `git verify-commit`
//! and `git log --show-signature` read them with an allowed-signers file.
//! Keys are made by `ssh-keygen` too; only verification runs in-process
//! (the `ssh-key` crate's SSHSIG check), because readers check many
//! commits.

use std::path::Path;

use anyhow::{Context as _, Result, bail};

use super::{Oid, Repo, clean};
use crate::exit::Hint;

/// The namespace git signs commits in (`ssh-keygen -Y sign -n git`).
const NAMESPACE: &str = "git";

/// A public key, as one line of OpenSSH's format (`ssh-ed25519 AAAA... comment`).
#[derive(Debug, Clone)]
pub struct PublicKey {
    key: ssh_key::PublicKey,
}

impl PublicKey {
    pub fn parse(line: &str) -> Result<PublicKey> {
        let key = ssh_key::PublicKey::from_openssh(line.trim()).map_err(|err| {
            anyhow::Error::from(
                Hint::new(format!("'{}' is not an SSH public key: {err}", short(line)))
                    .hint("an OpenSSH public key line: ssh-ed25519 AAAA... (the .pub file ssh-keygen writes)"),
            )
        })?;
        Ok(PublicKey { key })
    }

    /// The key without its comment: what contracts and key lists record.
    pub fn openssh(&self) -> String {
        let mut key = self.key.clone();
        key.set_comment("");
        key.to_openssh()
            .map(|s| s.trim().to_string())
            .unwrap_or_default()
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(ssh_key::HashAlg::Sha256).to_string()
    }

    /// Whether `signature` (an armored SSHSIG) is this key's over `payload`
    /// in git's namespace.
    pub fn verifies(&self, payload: &[u8], signature: &str) -> bool {
        let Ok(sig) = signature.parse::<ssh_key::SshSig>() else {
            return false;
        };
        self.key.verify(NAMESPACE, payload, &sig).is_ok()
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &PublicKey) -> bool {
        self.key.key_data() == other.key.key_data()
    }
}

fn short(line: &str) -> String {
    let line = line.trim();
    if line.chars().count() > 40 {
        format!("{}...", line.chars().take(40).collect::<String>())
    } else {
        line.to_string()
    }
}

/// The fingerprint of the key that made `signature`, whoever it is.
pub fn signer_fingerprint(signature: &str) -> Option<String> {
    let sig = signature.parse::<ssh_key::SshSig>().ok()?;
    Some(
        ssh_key::PublicKey::from(sig.public_key().clone())
            .fingerprint(ssh_key::HashAlg::Sha256)
            .to_string(),
    )
}

fn ssh_keygen() -> Result<std::path::PathBuf> {
    which::which("ssh-keygen").map_err(|_| {
        Hint::new("ssh-keygen is not installed or not on PATH: registry entries are signed with it")
            .hint("install OpenSSH's client tools (Debian: openssh-client)")
            .into()
    })
}

/// Make an ed25519 key pair at `path` and `path.pub` (no passphrase: the
/// tools sign unattended), readable by its owner only. Returns the public key.
pub fn keygen(path: &Path, comment: &str) -> Result<PublicKey> {
    if let Some(parent) = path.parent() {
        crate::fs::create_private_dir(parent)?;
    }
    let out = duct::cmd!(
        ssh_keygen()?,
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        comment,
        "-f",
        path
    )
    .stdin_null()
    .stderr_capture()
    .stdout_capture()
    .unchecked()
    .run()
    .context("cannot run ssh-keygen")?;
    if !out.status.success() {
        bail!(
            "ssh-keygen could not make a key at '{}': {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    public_key_of(path)
}

/// The public key beside the private key at `path` (`path.pub`).
pub fn public_key_of(path: &Path) -> Result<PublicKey> {
    let pub_path = path.with_extension("pub");
    let text = std::fs::read_to_string(&pub_path)
        .with_context(|| format!("cannot read '{}'", pub_path.display()))?;
    PublicKey::parse(&text)
}

/// `ssh-keygen -Y sign -n git -f key` of `payload`: an armored signature.
pub fn sign(key: &Path, payload: &[u8]) -> Result<String> {
    let out = duct::cmd!(ssh_keygen()?, "-Y", "sign", "-n", NAMESPACE, "-f", key)
        .stdin_bytes(payload)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("cannot run ssh-keygen")?;
    let signature = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || !signature.contains("BEGIN SSH SIGNATURE") {
        return Err(Hint::new(format!(
            "cannot sign with the key '{}': {}",
            key.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
        .hint("`git worker doctor` checks the keys")
        .into());
    }
    Ok(signature)
}

impl Repo {
    /// Create a commit signed with the SSH key at `key` (as `git commit -S`
    /// with `gpg.format=ssh` does); no ref is updated.
    pub fn create_signed_commit(
        &self,
        tree: Oid,
        parents: &[Oid],
        message: &str,
        key: &Path,
    ) -> Result<Oid> {
        let (signature, tree, parents) = self.commit_parts(tree, parents)?;
        let parent_refs: Vec<&git2::Commit> = parents.iter().collect();
        let buffer = self
            .inner
            .commit_create_buffer(&signature, &signature, message, &tree, &parent_refs)
            .map_err(clean)
            .context("failed to write commit")?;
        let content = std::str::from_utf8(&buffer).context("a commit buffer that is not UTF-8")?;
        let armored = sign(key, content.as_bytes())?;
        self.inner
            .commit_signed(content, armored.trim_end(), None)
            .map_err(clean)
            .context("failed to write signed commit")
    }

    /// The SSH signature of a commit and the bytes it signs, if it has one.
    pub fn commit_signature(&self, commit: Oid) -> Result<Option<(String, Vec<u8>)>> {
        match self.inner.extract_signature(&commit, None) {
            Ok((signature, payload)) => Ok(Some((
                String::from_utf8_lossy(&signature).into_owned(),
                payload.to_vec(),
            ))),
            Err(err) if err.code() == git2::ErrorCode::NotFound => Ok(None),
            Err(err) => Err(clean(err)).with_context(|| format!("cannot read commit {commit}")),
        }
    }
}
