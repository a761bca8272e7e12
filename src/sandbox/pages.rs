//! The sandbox retailer's pages: a sign-in form, a one-time-code form and a page that only
//! says what went wrong. Plain HTML (no script), every value escaped by the template engine,
//! links relative so the sandbox also works behind a proxy under a path.
use maud::{DOCTYPE, Markup, html};

use super::accounts::{OTP_CODE, PASSWORD, TEST_ACCOUNTS};

/// The sandbox's stylesheet, served by the sandbox itself (the CSP allows no inline style).
pub(crate) const CSS: &str = include_str!("../../assets/sandbox/sandbox.css");

/// What a form page shows of the link session it signs in for.
pub(crate) struct SessionView<'a> {
    /// The session's reference, posted back in a hidden field.
    pub reference: &'a str,
    pub retailer_name: &'a str,
    pub client_name: &'a str,
    /// Where "Cancel" goes: tessera's return page, only when it is an http(s) URL.
    pub cancel_url: Option<&'a str>,
}

/// A whole page: the sandbox banner, `title` as its heading, `body`.
fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="robots" content="noindex";
                title { (title) " · tessera sandbox retailer" }
                link rel="stylesheet" href="sandbox.css";
            }
            body {
                div.banner role="note" {
                    strong { "Sandbox" } " — not a real retailer. Use the test credentials below."
                }
                main #main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// The box listing the test credentials, on every form page.
fn test_credentials() -> Markup {
    html! {
        section.credentials aria-labelledby="test-credentials" {
            h2 #test-credentials { "Sandbox test credentials" }
            p { "Password for every account: " code { (PASSWORD) } }
            ul {
                @for (user, what) in TEST_ACCOUNTS {
                    li { code { (user) } ": " (what) "." }
                }
                li { "Any other username or password: “Wrong username or password”; five failures end the sign-in." }
            }
            p { "One-time code: " code { (OTP_CODE) } }
        }
    }
}

/// The error above a form, which its inputs name with `aria-describedby`.
fn alert(error: Option<&str>) -> Markup {
    html! {
        @if let Some(error) = error {
            p #form-error .problem role="alert" { (error) }
        }
    }
}

/// The way back without signing in.
fn cancel(view: &SessionView<'_>) -> Markup {
    html! {
        @if let Some(url) = view.cancel_url {
            p.cancel { a href=(url) { "Cancel" } " and go back without linking." }
        }
    }
}

/// The sign-in form, with `error` above it and `username` kept after a failure.
pub(crate) fn sign_in(view: &SessionView<'_>, error: Option<&str>, username: &str) -> Markup {
    let described = error.map(|_| "form-error");
    let invalid = error.map(|_| "true");
    let title = format!("Sign in to {}", view.retailer_name);
    page(
        &title,
        html! {
            p.lead { "Sign in to " strong { (view.retailer_name) } " to link it with " strong { (view.client_name) } "." }
            (alert(error))
            form.stack method="post" action="sign-in" novalidate {
                input type="hidden" name="session" value=(view.reference);
                label for="username" { "Username" }
                input #username type="text" name="username" value=(username) autocomplete="username"
                    autocapitalize="none" spellcheck="false" required
                    aria-describedby=[described] aria-invalid=[invalid];
                label for="password" { "Password" }
                input #password type="password" name="password" autocomplete="current-password" required
                    aria-describedby=[described] aria-invalid=[invalid];
                button type="submit" { "Sign in" }
            }
            (cancel(view))
            (test_credentials())
        },
    )
}

/// The one-time-code form (after `user_otp`'s password), with `error` above it.
pub(crate) fn code(view: &SessionView<'_>, error: Option<&str>) -> Markup {
    let described = if error.is_some() { "form-error code-hint" } else { "code-hint" };
    page(
        "Enter your one-time code",
        html! {
            p.lead { "Signing in to " strong { (view.retailer_name) } " to link it with " strong { (view.client_name) } "." }
            (alert(error))
            form.stack method="post" action="sign-in" novalidate {
                input type="hidden" name="session" value=(view.reference);
                label for="code" { "One-time code" }
                p #code-hint .hint { "We sent a six-digit code to your phone. (In the sandbox it is always " code { (OTP_CODE) } ".)" }
                input #code type="text" name="code" inputmode="numeric" autocomplete="one-time-code"
                    maxlength="6" required aria-describedby=(described) aria-invalid=[error.map(|_| "true")];
                button type="submit" { "Continue" }
            }
            (cancel(view))
            (test_credentials())
        },
    )
}

/// A page that only says what went wrong, and what to do.
pub(crate) fn problem(title: &str, message: &str) -> Markup {
    page(title, html! { p.problem role="alert" { (message) } })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> SessionView<'static> {
        SessionView {
            reference: "ref\"><b>x",
            retailer_name: "Sandbox <Books>",
            client_name: "Acme & Co",
            cancel_url: Some("http://127.0.0.1:8000/link/return?session=r"),
        }
    }

    #[test]
    fn the_sign_in_page_names_retailer_and_client_and_labels_its_inputs() {
        let out = sign_in(&view(), None, "").into_string();
        assert!(out.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{out}");
        assert!(out.contains("name=\"viewport\""));
        assert!(
            out.contains(
                "Sign in to <strong>Sandbox &lt;Books&gt;</strong> to link it with <strong>Acme &amp; Co</strong>"
            ),
            "{out}"
        );
        assert!(out.contains("Sandbox</strong> — not a real retailer. Use the test credentials below."));
        assert!(out.contains("Sandbox test credentials") && out.contains("user_otp") && out.contains("123456"));
        for id in ["username", "password"] {
            assert!(out.contains(&format!("label for=\"{id}\"")) && out.contains(&format!("id=\"{id}\"")), "{id}");
        }
        assert!(out.contains("value=\"ref&quot;&gt;&lt;b&gt;x\""), "the reference is escaped: {out}");
        assert!(out.contains("href=\"http://127.0.0.1:8000/link/return?session=r\">Cancel</a>"));
        assert!(!out.contains("role=\"alert\"") && !out.contains("aria-invalid"));
        assert!(!out.contains("style=") && !out.contains("<style") && !out.contains("<script"), "{out}");
    }

    #[test]
    fn an_error_is_an_alert_the_inputs_point_at() {
        let out = sign_in(&view(), Some("Wrong username or password."), "user<x>").into_string();
        assert!(
            out.contains("<p class=\"problem\" id=\"form-error\" role=\"alert\">Wrong username or password.</p>")
                || out.contains("id=\"form-error\" class=\"problem\" role=\"alert\""),
            "{out}"
        );
        assert_eq!(out.matches("aria-describedby=\"form-error\"").count(), 2, "{out}");
        assert!(out.contains("value=\"user&lt;x&gt;\""));
        let code_page = code(&view(), Some("That code is not right.")).into_string();
        assert!(code_page.contains("aria-describedby=\"form-error code-hint\"") && code_page.contains("name=\"code\""));
    }

    #[test]
    fn a_problem_page_has_no_form() {
        let out = problem("Link expired", "This sign-in link has expired or was already used.").into_string();
        assert!(!out.contains("<form") && out.contains("role=\"alert\"") && out.contains("Sandbox"));
        let no_cancel = SessionView { cancel_url: None, ..view() };
        assert!(!sign_in(&no_cancel, None, "").into_string().contains("Cancel"));
    }
}
