//! What every service's HTTP API shares: `application/problem+json` responses, bearer
//! token authentication as an extractor (resolved tokens cached for a second,
//! [`token_cache`]), token material, a JSON body extractor whose
//! rejections are problems naming the field, and the OpenAPI documents' finishing and
//! merging ([`openapi`]). Each service keeps its own error table and
//! maps its errors onto [`problem::ApiProblem`].

pub mod auth;
pub mod json;
pub mod openapi;
pub mod problem;
pub mod token;
pub mod token_cache;
