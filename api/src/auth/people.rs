//! People: created or refreshed at sign-in.

use diesel::prelude::*;
use diesel::upsert::excluded;
use diesel_async::RunQueryDsl;
use shared::db::models::User;
use shared::db::schema::users;
use uuid::Uuid;

use super::github::GithubUser;
use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// Creates or refreshes the user of a GitHub account, keyed by its GitHub id (logins
/// can be renamed; ids cannot). A user made ahead of sign-in under that login (by
/// `switchyard-api bootstrap-org --owner`) becomes this account's on first sign-in.
pub async fn upsert_github_user(state: &AppState, gh: &GithubUser) -> Result<User, ApiError> {
    let mut conn = state.db.untenanted().await?;
    diesel::update(users::table)
        .filter(users::login.eq(&gh.login))
        .filter(users::github_id.is_null())
        .set(users::github_id.eq(gh.id))
        .execute(&mut conn)
        .await?;
    let user = diesel::insert_into(users::table)
        .values((
            users::id.eq(Uuid::now_v7()),
            users::github_id.eq(gh.id),
            users::login.eq(&gh.login),
            users::name.eq(&gh.name),
            users::email.eq(&gh.email),
            users::avatar_url.eq(&gh.avatar_url),
        ))
        .on_conflict(users::github_id)
        .do_update()
        .set((
            users::login.eq(excluded(users::login)),
            users::name.eq(excluded(users::name)),
            users::email.eq(excluded(users::email)),
            users::avatar_url.eq(excluded(users::avatar_url)),
        ))
        .returning(User::as_returning())
        .get_result(&mut conn)
        .await
        .map_err(|e| match e {
            diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            ) => ApiError::conflict(
                ErrorCode::LoginTaken,
                format!("another account already uses the login {:?}", gh.login),
            ),
            other => other.into(),
        })?;
    Ok(user)
}

/// The development user named `login` (no GitHub account), created on first sign-in.
pub async fn dev_user(state: &AppState, login: &str) -> Result<User, ApiError> {
    let mut conn = state.db.untenanted().await?;
    diesel::insert_into(users::table)
        .values((users::id.eq(Uuid::now_v7()), users::login.eq(login)))
        .on_conflict(users::login)
        .do_nothing()
        .execute(&mut conn)
        .await?;
    let user: User = users::table
        .filter(users::login.eq(login))
        .select(User::as_select())
        .first(&mut conn)
        .await?;
    if user.github_id.is_some() {
        return Err(ApiError::conflict(
            ErrorCode::LoginTaken,
            "that login belongs to a GitHub account: sign in with GitHub",
        ));
    }
    Ok(user)
}

/// A GitHub-shaped login: what the development sign-in and invitations accept.
pub fn valid_login(login: &str) -> bool {
    let bytes = login.as_bytes();
    (1..=39).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}
