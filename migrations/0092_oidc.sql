-- Single sign-on with OpenID Connect (core, `access/sso.rs`): sign-ins under way and the
-- identities people sign in with.

-- A sign-in sent to the identity provider and not back yet. The browser carries the
-- state (in the URL and in a cookie); only its SHA-256 is stored. The nonce and the PKCE
-- verifier stay here, never in the browser. A row is taken once (DELETE ... RETURNING)
-- and lives ten minutes; starting a sign-in prunes the expired ones.
CREATE TABLE oidc_logins (
    state_hash     bytea       PRIMARY KEY CHECK (octet_length(state_hash) = 32),
    workspace_id   uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    nonce          text        NOT NULL CHECK (nonce <> ''),
    code_verifier  text        NOT NULL CHECK (length(code_verifier) BETWEEN 43 AND 128),
    -- the page to return to (one of ours, checked before it is stored)
    next           text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    expires_at     timestamptz NOT NULL,
    CHECK (expires_at > created_at)
);

CREATE INDEX oidc_logins_expires_idx ON oidc_logins (expires_at);

-- Who a person is at an identity provider (issuer, subject) and which user of the
-- workspace that is. Found first on every sign-in; made on the first one (by the
-- user's email, or with a new user of the workspace's email domain). `role` is what a
-- sign-in of this identity may do: the session's token is minted with it.
CREATE TABLE user_identities (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id     uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id          uuid        NOT NULL,
    issuer           text        NOT NULL CHECK (issuer <> ''),
    subject          text        NOT NULL CHECK (subject <> ''),
    role             access_role NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    last_sign_in_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT user_identities_subject_key UNIQUE (workspace_id, issuer, subject),
    FOREIGN KEY (workspace_id, user_id) REFERENCES users (workspace_id, id) ON DELETE CASCADE
);

CREATE INDEX user_identities_user_idx ON user_identities (workspace_id, user_id);
