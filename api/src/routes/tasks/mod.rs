//! Tasks: the cards of a project's board.

pub mod create;
pub mod delete;
pub mod get;
pub mod list;
pub mod update;

use crate::error::ApiError;

const MAX_LABELS: usize = 20;
const MAX_LABEL_CHARS: usize = 50;
const MAX_DESCRIPTION_CHARS: usize = 100_000;

/// A board position must be a finite number.
pub fn check_position(position: f64) -> Result<f64, ApiError> {
    if position.is_finite() {
        Ok(position)
    } else {
        Err(ApiError::validation("position must be a finite number"))
    }
}

/// Trimmed, non-empty, bounded, deduplicated labels.
pub fn clean_labels(labels: &[String]) -> Result<Vec<Option<String>>, ApiError> {
    if labels.len() > MAX_LABELS {
        return Err(ApiError::validation(format!("at most {MAX_LABELS} labels")));
    }
    let mut out: Vec<Option<String>> = Vec::with_capacity(labels.len());
    for label in labels {
        let label = crate::routes::required_text("label", label, MAX_LABEL_CHARS)?;
        if !out.iter().flatten().any(|l| *l == label) {
            out.push(Some(label));
        }
    }
    Ok(out)
}

/// A description within bounds.
pub fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ApiError::validation(format!(
            "description must be at most {MAX_DESCRIPTION_CHARS} characters"
        )));
    }
    Ok(())
}
