//! The Link pages' layout and views. Every value goes through maud's escaping: client and
//! retailer names are text wherever they appear.
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};

use crate::domain::client::Client;
use crate::domain::retailer::Retailer;

/// A whole page.
pub(super) fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="referrer" content="no-referrer";
                title { (title) " · Link" }
                link rel="stylesheet" href="/link/assets/link.css";
            }
            body {
                header.top { "Link an account" }
                main #main {
                    h1 { (title) }
                    (body)
                }
                footer { p { "Served by tessera Link. Your password is never shared with the app." } }
            }
        }
    }
}

/// An HTML answer.
pub(super) fn respond(status: StatusCode, markup: Markup) -> Response {
    (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response()
}

/// A page that says why the flow cannot go on, with the way back to the app when there is a
/// registered one.
pub(super) fn problem_page(status: StatusCode, title: &str, message: &str, back: Option<(&str, String)>) -> Response {
    respond(
        status,
        page(
            title,
            html! {
                p.problem role="alert" { (message) }
                @if let Some((client, href)) = back {
                    p.actions { a.button href=(href) { "Return to " (client) } }
                }
            },
        ),
    )
}

fn csrf(token: &str) -> Markup {
    html! { input type="hidden" name="csrf" value=(token); }
}

fn exit_form(csrf_token: &str) -> Markup {
    html! {
        form method="post" action="/link/session/exit" {
            (csrf(csrf_token))
            button.secondary type="submit" { "Exit" }
        }
    }
}

/// Choosing a retailer: a search (a GET form) and the catalogue as radio buttons.
pub(super) fn select_retailer(client: &Client, query: &str, retailers: &[Retailer], csrf_token: &str) -> Markup {
    page(
        "Choose your retailer",
        html! {
            p { "Pick the store whose account you want to link with " strong { (client.name) } "." }
            form.search method="get" action="/link/session" role="search" {
                label for="q" { "Search retailers" }
                input #q type="search" name="q" value=(query) autocomplete="off";
                button type="submit" { "Search" }
            }
            @if retailers.is_empty() {
                p.problem role="status" {
                    @if query.is_empty() { "No retailer can be linked yet." } @else { "No retailer matches “" (query) "”." }
                }
            } @else {
                form method="post" action="/link/session/retailer" {
                    (csrf(csrf_token))
                    fieldset {
                        legend {
                            @if query.is_empty() { "Retailers" } @else { "Retailers matching “" (query) "”" }
                        }
                        ul.choices {
                            @for (i, r) in retailers.iter().enumerate() {
                                li {
                                    label {
                                        input type="radio" name="retailer_id" value=(r.retailer_id) required[i == 0];
                                        span { (r.name) }
                                    }
                                }
                            }
                        }
                    }
                    div.actions { button type="submit" { "Continue" } }
                }
            }
            (exit_form(csrf_token))
        },
    )
}

/// Whose link this is: the app, and the customer's email (masked) when the app gave one.
fn for_whom(client: &Client, masked_email: Option<&str>) -> Markup {
    html! {
        p.whose {
            "This link is for "
            @if let Some(email) = masked_email { "the " strong { (client.name) } " account of " strong { (email) } }
            @else { "your " strong { (client.name) } " account" }
            ". If that is not you, exit now and start again from the app."
        }
    }
}

/// The consent: who asks, for whom, what it will read, what it will not.
pub(super) fn consent(
    client: &Client,
    retailer: &Retailer,
    relink: bool,
    masked_email: Option<&str>,
    csrf_token: &str,
) -> Markup {
    let title = if relink {
        format!("Sign in to {} again", retailer.name)
    } else {
        format!("{} wants to link your {} account", client.name, retailer.name)
    };
    page(
        &title,
        html! {
            @if relink {
                p { (client.name) " can no longer read your " (retailer.name) " account: the retailer asked you to sign in again." }
            }
            (for_whom(client, masked_email))
            div.panel {
                p { strong { (client.name) } " will be able to read:" }
                ul.reads {
                    li { "your purchases at " (retailer.name) ": the date, the items, their prices and the totals" }
                    li { "new purchases as you make them, until you disconnect" }
                }
                p { "It will not see your password, and cannot place orders or change your account." }
            }
            p.muted { "You sign in on " (retailer.name) "'s own page next. To stop sharing later, ask " (client.name) " to disconnect the account." }
            div.actions {
                form method="post" action="/link/session/consent" {
                    (csrf(csrf_token))
                    button type="submit" { "Continue to " (retailer.name) }
                }
                (exit_form(csrf_token))
            }
        },
    )
}

/// The session is at the connector's page (the customer came back here by the back button).
pub(super) fn at_connector(retailer: Option<&Retailer>, csrf_token: &str) -> Markup {
    let name = retailer.map_or("the retailer", |r| r.name.as_str());
    page(
        "Signing in",
        html! {
            p { "You were sent to " (name) "'s sign-in page. Finish signing in there, or leave and start again from the app." }
            (exit_form(csrf_token))
        },
    )
}

/// The end: linked, or not, and the way back.
pub(super) fn result(
    client: &Client,
    retailer: Option<&Retailer>,
    linked: bool,
    reason: Option<&str>,
    back: Option<String>,
) -> Markup {
    let name = retailer.map_or("your", |r| r.name.as_str());
    let title = if linked { format!("Your {name} account is linked") } else { "The account was not linked".to_owned() };
    page(
        &title,
        html! {
            @if linked {
                p.good role="status" { (client.name) " can now read your " (name) " purchases." }
            } @else {
                p.problem role="alert" { "Linking did not work" @if let Some(r) = reason { ": " (r) } "." }
            }
            @match back {
                Some(href) => p.actions { a.button href=(href) { "Return to " (client.name) } },
                None => p { "You can close this window and go back to " (client.name) "." },
            }
        },
    )
}

/// The customer left and the app registered no way back.
pub(super) fn exited(client: &Client) -> Markup {
    page(
        "You left Link",
        html! { p { "Nothing was linked. You can close this window and go back to " (client.name) "." } },
    )
}

/// A second Link URL was opened while this browser's session is still open: the open one is
/// kept (a page elsewhere may have sent this browser to someone else's Link URL), and the
/// customer chooses to go on with it or to leave it.
pub(super) fn already_open(client: &Client, masked_email: Option<&str>, csrf_token: &str) -> Markup {
    page(
        "A Link session is already open",
        html! {
            p.problem role="alert" {
                "This browser is already linking an account. Link did not start another one: finish or exit the open one first."
            }
            (for_whom(client, masked_email))
            div.actions {
                p { a.button href="/link/session" { "Continue the open session" } }
                (exit_form(csrf_token))
            }
        },
    )
}

/// A step the session cannot take, with the ways on: back to the retailers (when the
/// customer may pick another), or out of Link.
pub(super) fn session_problem(title: &str, message: &str, choose_again: bool, csrf_token: &str) -> Markup {
    page(
        title,
        html! {
            p.problem role="alert" { (message) }
            div.actions {
                @if choose_again { p { a.button href="/link/session" { "Choose another retailer" } } }
                (exit_form(csrf_token))
            }
        },
    )
}
