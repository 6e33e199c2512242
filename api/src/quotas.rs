//! The operator's ceilings on what tenants set for themselves (`quotas` settings,
//! docs/OPERATIONS.md "Quotas"): how many orgs a person may create, how many attempts an
//! org may run at once, and which resource classes its profiles may name. One home for
//! each rule; the routes that take such a value call it.

use diesel::prelude::*;
use diesel_async::RunQueryDsl;
use shared::config::QuotaSettings;
use shared::db::Conn;
use shared::db::schema::organizations;
use shared::executors::ProfileOptions;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// Checks an org's `max_concurrent_attempts`: at least 1, at most the operator's ceiling.
pub fn check_max_concurrent_attempts(quotas: &QuotaSettings, n: i32) -> Result<i32, ApiError> {
    let ceiling = quotas.max_concurrent_attempts;
    if (1..=ceiling).contains(&n) {
        Ok(n)
    } else {
        Err(ApiError::validation(format!(
            "max_concurrent_attempts must be between 1 and {ceiling} on this server"
        )))
    }
}

/// Refuses a resource class org `slug` may not use; `None` (the default class) passes.
pub fn check_resource_class(
    quotas: &QuotaSettings,
    slug: &str,
    class: Option<&str>,
) -> Result<(), ApiError> {
    let Some(class) = class else { return Ok(()) };
    if quotas.allows_class(slug, class) {
        return Ok(());
    }
    let allowed = quotas
        .org_resource_classes
        .get(slug)
        .unwrap_or(&quotas.allowed_resource_classes);
    Err(ApiError::unprocessable(
        ErrorCode::ResourceClassNotAllowed,
        format!(
            "resource_class: {class:?} is not available to this org (allowed: {}; ask the operator for more)",
            if allowed.is_empty() {
                "only the default class".to_owned()
            } else {
                allowed.join(", ")
            }
        ),
    ))
}

/// [`check_resource_class`] for every variant of a profile.
pub fn check_profile_classes<'a>(
    quotas: &QuotaSettings,
    slug: &str,
    variants: impl IntoIterator<Item = (&'a String, &'a ProfileOptions)>,
) -> Result<(), ApiError> {
    for (variant, options) in variants {
        check_resource_class(quotas, slug, options.resource_class.as_deref()).map_err(
            |e| match e {
                ApiError::Unprocessable { code, message } => ApiError::Unprocessable {
                    code,
                    message: format!("variants.{variant}.{message}"),
                },
                other => other,
            },
        )?;
    }
    Ok(())
}

/// Refuses a new org once `user_id` has created `quotas.max_orgs_per_person`. Reads
/// across orgs, so it takes a system connection. Two creates racing past the count may
/// overshoot by one; the ceiling stops a person from making orgs without end, it is not
/// an exact count.
pub async fn check_org_count(
    conn: &mut Conn,
    quotas: &QuotaSettings,
    user_id: Uuid,
) -> Result<(), ApiError> {
    let created: i64 = organizations::table
        .filter(organizations::created_by.eq(user_id))
        .count()
        .get_result(conn)
        .await?;
    if created >= quotas.max_orgs_per_person {
        return Err(ApiError::unprocessable(
            ErrorCode::OrgLimitReached,
            format!(
                "you have created {created} orgs, the most this server allows; delete one or ask the operator"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::config::Settings;

    #[test]
    fn concurrency_is_bounded_by_the_operators_ceiling() {
        let mut quotas = Settings::default().quotas;
        quotas.max_concurrent_attempts = 50;
        assert!(check_max_concurrent_attempts(&quotas, 1).is_ok());
        assert!(check_max_concurrent_attempts(&quotas, 50).is_ok());
        assert!(check_max_concurrent_attempts(&quotas, 51).is_err());
        assert!(check_max_concurrent_attempts(&quotas, 0).is_err());
        assert!(check_max_concurrent_attempts(&quotas, -5).is_err());
    }

    #[test]
    fn an_orgs_own_class_list_replaces_the_default_one() {
        let mut quotas = Settings::default().quotas;
        quotas.allowed_resource_classes = vec!["small".into()];
        quotas
            .org_resource_classes
            .insert("big-co".into(), vec!["small".into(), "large".into()]);
        assert!(check_resource_class(&quotas, "acme", None).is_ok());
        assert!(check_resource_class(&quotas, "acme", Some("small")).is_ok());
        assert!(check_resource_class(&quotas, "acme", Some("large")).is_err());
        assert!(check_resource_class(&quotas, "big-co", Some("large")).is_ok());
        assert!(check_resource_class(&quotas, "big-co", Some("medium")).is_err());
    }
}
