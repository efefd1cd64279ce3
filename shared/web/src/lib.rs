//! The web app's shared shell, used by every service that serves pages (`/ui/...`):
//!
//! - [`shell`]: the layout every page extends (`templates/layout.html`), its navigation
//!   and the [`shell::render`] helper turning a template into a response;
//! - [`assets`]: the stylesheet, the small enhancement script and the vendored htmx,
//!   served under content-addressed names with a year-long cache header;
//! - [`session`]: browser sessions (a cookie holding a random secret, stored hashed,
//!   bound to the API token it was opened with) and the [`session::WebSession`] extractor;
//! - [`csrf`]: the per-session token every form carries, and the verified form extractor;
//! - [`sse`]: live updates, a Postgres `LISTEN` fanned out to Server-Sent Event streams.
//!
//! Pages are server-rendered and read without JavaScript; forms are plain POSTs that
//! htmx enhances (`hx-boost`). Sign-in today is the login form that takes an API token
//! once; OpenID Connect is the next way in and plugs in at [`session::open`], which
//! takes an already verified token (see its doc).

pub mod assets;
pub mod csrf;
pub mod session;
pub mod shell;
pub mod sse;

pub use csrf::VerifiedForm;
pub use session::WebSession;
pub use shell::{Shell, Viewer, render};
