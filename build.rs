//! Records the commit tessera is built from, for `tessera --version` and
//! `tessera_build_info`: `git rev-parse --short HEAD` when git and a repository are there,
//! else "unknown" (a source tarball, a container without git).
use std::path::PathBuf;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    // The migrations are embedded by `sqlx::migrate!`: a new file must rebuild the binary.
    println!("cargo:rerun-if-changed=migrations");
    let commit = git(&["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=TESSERA_COMMIT={commit}");
    // Rebuilt when HEAD moves: HEAD itself (a checkout), the branch it names (a commit) and
    // packed refs. In a worktree `.git` is a file, so ask git where these live.
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        println!("cargo:rerun-if-changed={}", PathBuf::from(&git_dir).join("HEAD").display());
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            println!("cargo:rerun-if-changed={}", common.join(branch).display());
        }
        println!("cargo:rerun-if-changed={}", common.join("packed-refs").display());
    }
}
