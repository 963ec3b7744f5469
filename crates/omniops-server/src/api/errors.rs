//! The error answers the OpenAPI document lists for every endpoint.

use crate::error::ErrorBody;

/// What any endpoint may answer besides its success.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Common {
    /// Invalid input; `field` names the parameter or body field.
    #[response(status = 400)]
    BadRequest(ErrorBody),
    /// Missing or unknown API key.
    #[response(status = 401)]
    Unauthorized(ErrorBody),
    /// The key's scope or domain does not allow this.
    #[response(status = 403)]
    Forbidden(ErrorBody),
}

/// The named thing does not exist.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Missing {
    #[response(status = 404)]
    NotFound(ErrorBody),
}
