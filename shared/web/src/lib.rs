//! The web app's shared shell, used by every service that serves pages (`/ui/...`):
//!
//! - [`shell`]: the layout every page extends (`templates/layout.html`), its navigation
//!   and the [`shell::render`] helper turning a template into a response;
//! - [`assets`]: the stylesheet, the small enhancement script and the vendored htmx,
//!   served under content-addressed names with a year-long cache header;
//! - [`session`]: browser sessions (a cookie holding a random secret, stored hashed,
//!   bound to the API token it was opened with) and the [`session::WebSession`] extractor;
//! - [`csrf`]: the per-session token every form carries, and the verified form extractor;
//! - [`sse`]: live updates, a Postgres `LISTEN` fanned out to Server-Sent Event streams;
//! - [`view`]: the plain values every service's templates render (times, choices).
//!
//! - [`oidc`]: an OpenID Connect relying party (discovery, authorization code with PKCE,
//!   ID token verification over the provider's JWKS).
//!
//! Pages are server-rendered and read without JavaScript; forms are plain POSTs that
//! htmx enhances (`hx-boost`). Two ways in end at [`session::open`], which takes an
//! already verified token: the login form that takes an API token once, and single
//! sign-on ([`oidc`]), after which the serving service finds or creates the user and
//! mints the session's token.

pub mod assets;
pub mod csrf;
pub mod oidc;
pub mod session;
pub mod shell;
pub mod sse;
pub mod view;

pub use csrf::VerifiedForm;
pub use session::WebSession;
pub use shell::{Shell, Viewer, render};
