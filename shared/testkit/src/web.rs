//! The web app as a browser without JavaScript sees it: [`Page`] signs in through core's
//! login form (its double-submit CSRF cookie included), keeps the session cookie, follows
//! no redirects, and GETs pages and POSTs forms, so any service's page tests drive its
//! pages over HTTP as the form-only browser would.

use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use sha2::{Digest, Sha256};

use crate::app::Api;

/// A browser without JavaScript: follows no redirects, keeps the session cookie.
pub struct Page {
    http: reqwest::Client,
    base: String,
    /// The session cookie's secret.
    pub secret: String,
    /// The `Set-Cookie` the sign-in answered.
    pub set_cookie: String,
}

fn cookie_value(set_cookie: &str, name: &str) -> Option<String> {
    set_cookie
        .split(';')
        .next()
        .and_then(|kv| kv.trim().strip_prefix(&format!("{name}=")))
        .map(str::to_owned)
}

fn set_cookies(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect()
}

impl Page {
    /// Signs in through the login form with `token` (over "HTTPS" when `https`).
    pub async fn sign_in_with(app: &Api, token: &str, https: bool) -> Result<Self, StatusCode> {
        Self::sign_in_at(&app.base, token, https).await
    }

    /// Signs in through the login form served at `base` (core's `/ui/login`, or a router
    /// merging it, as the stack does).
    pub async fn sign_in_at(base: &str, token: &str, https: bool) -> Result<Self, StatusCode> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let proto = if https { "https" } else { "http" };
        let form = http
            .get(format!("{base}/ui/login"))
            .header("x-forwarded-proto", proto)
            .send()
            .await
            .expect("login form");
        assert_eq!(form.status(), StatusCode::OK);
        let login_csrf = set_cookies(&form)
            .iter()
            .find_map(|c| cookie_value(c, "incident_login_csrf"))
            .expect("login csrf cookie");
        let body = serde_urlencoded::to_string([("_csrf", login_csrf.as_str()), ("token", token)])
            .expect("form");
        let answer = http
            .post(format!("{base}/ui/login"))
            .header("x-forwarded-proto", proto)
            .header(COOKIE, format!("incident_login_csrf={login_csrf}"))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .expect("sign in");
        if answer.status() != StatusCode::SEE_OTHER {
            return Err(answer.status());
        }
        let set_cookie = set_cookies(&answer)
            .into_iter()
            .find(|c| c.starts_with("incident_session="))
            .expect("session cookie");
        let secret = cookie_value(&set_cookie, "incident_session").expect("secret");
        Ok(Self {
            http,
            base: base.to_owned(),
            secret,
            set_cookie,
        })
    }

    /// Signs in over plain HTTP, expecting success.
    pub async fn sign_in(app: &Api, token: &str) -> Self {
        Self::sign_in_with(app, token, false)
            .await
            .expect("signed in")
    }

    /// The session's CSRF token, as its pages carry it.
    pub fn csrf(&self) -> String {
        // incident_web::csrf::token_for, without depending on the web crate.
        Sha256::digest(format!("csrf:{}", self.secret).as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// GET a page: status, `Location`, body.
    pub async fn get(&self, path: &str) -> (StatusCode, Option<String>, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, format!("incident_session={}", self.secret))
            .send()
            .await
            .expect("get");
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, location, r.text().await.expect("body"))
    }

    /// POST a form as given (add `_csrf` yourself): status and `Location`.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, Option<String>) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("incident_session={}", self.secret))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"))
            .send()
            .await
            .expect("post");
        let location = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (r.status(), location)
    }

    /// POST a form as given (add `_csrf` yourself): status, `Location` and body (for a
    /// form answered with a page, such as one showing a secret once).
    pub async fn submit(
        &self,
        path: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, Option<String>, String) {
        let r = self
            .http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, format!("incident_session={}", self.secret))
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).expect("form"))
            .send()
            .await
            .expect("post");
        let status = r.status();
        let location = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (status, location, r.text().await.expect("body"))
    }
}
