//! The pages' templates (`templates/*.html`), one struct each: what a page shows is exactly
//! its fields, and askama escapes every one of them.

use askama::Template;

/// One paragraph of plain text.
#[derive(Template)]
#[template(path = "message.html")]
pub(super) struct Message<'a> {
    pub(super) title: &'a str,
    pub(super) text: &'a str,
}

/// The sign-in form of `/authorize`.
#[derive(Template)]
#[template(path = "login.html")]
pub(super) struct Login<'a> {
    pub(super) title: &'a str,
    /// The client's name; empty when there is none to show.
    pub(super) client_name: &'a str,
    /// Why the last attempt failed.
    pub(super) notice: Option<&'a str>,
    /// The authorization request, carried through the form.
    pub(super) request: &'a str,
    pub(super) csrf: &'a str,
    /// From the current path to `/authorize`'s directory.
    pub(super) base: &'a str,
}

/// The consent question of `/authorize`.
#[derive(Template)]
#[template(path = "consent.html")]
pub(super) struct Consent<'a> {
    pub(super) title: &'a str,
    /// Who is signed in.
    pub(super) email: &'a str,
    pub(super) client_name: &'a str,
    pub(super) scopes: &'a [String],
    pub(super) request: &'a str,
    pub(super) csrf: &'a str,
    pub(super) base: &'a str,
}

/// The confirmation of an RP-initiated logout.
#[derive(Template)]
#[template(path = "logout.html")]
pub(super) struct Logout<'a> {
    pub(super) title: &'a str,
    /// The logout request, carried through the form.
    pub(super) request: &'a str,
    pub(super) csrf: &'a str,
}

/// The confirmation of an emailed verification link.
#[derive(Template)]
#[template(path = "verify_email.html")]
pub(super) struct VerifyEmail<'a> {
    pub(super) title: &'a str,
    pub(super) token: &'a str,
}

/// The new-password form of an emailed reset link.
#[derive(Template)]
#[template(path = "reset_password.html")]
pub(super) struct ResetPassword<'a> {
    pub(super) title: &'a str,
    pub(super) token: &'a str,
    /// Why the last attempt failed.
    pub(super) notice: Option<&'a str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_escaped() {
        let login = Login {
            title: "Sign in",
            client_name: "<script>alert(1)</script>",
            notice: Some("\"><b>"),
            request: "a\"b",
            csrf: "<c>",
            base: "",
        };

        let html = login.render().unwrap();

        assert!(
            !html.contains("<script>") && !html.contains("<b>") && !html.contains("<c>"),
            "{html}"
        );
        assert!(html.contains("&#60;script&#62;"), "{html}");
        assert!(
            !html.contains("value=\"a\"b\""),
            "a quote ends no attribute"
        );
    }

    #[test]
    fn the_layout_carries_the_stylesheet_the_policy_hashes() {
        let page = Message {
            title: "t",
            text: "x",
        };

        let html = page.render().unwrap();

        let style = format!("<style>{}</style>", crate::http::page::STYLE);
        assert!(html.contains(&style), "{html}");
    }
}
