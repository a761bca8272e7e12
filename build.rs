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
    // packed refs. In a worktree `.git` is a file, so ask git where these live. Only files
    // that exist are watched: cargo counts a watched file that is missing as changed, so a
    // checkout without `packed-refs` would rebuild tessera on every build. The folder of
    // loose refs is watched too, so a branch file that appears later is still noticed.
    let watch = |path: PathBuf| {
        if path.exists() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    };
    if let Some(git_dir) = git(&["rev-parse", "--git-dir"]) {
        watch(PathBuf::from(&git_dir).join("HEAD"));
    }
    if let Some(common) = git(&["rev-parse", "--git-common-dir"]) {
        let common = PathBuf::from(common);
        if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let branch = common.join(branch);
            if let Some(folder) = branch.parent() {
                watch(folder.to_path_buf());
            }
            watch(branch);
        }
        watch(common.join("packed-refs"));
    }
}
