//! The object store (S3 or any S3-compatible server): log segments and diffs.

use aws_sdk_s3::config::{Builder, Credentials, Region};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use secrecy::ExposeSecret;
use uuid::Uuid;

use crate::config::S3Settings;
use crate::metrics::Metrics;
use prometheus::IntCounter;

/// Why an object-store call failed.
#[derive(Debug, thiserror::Error)]
#[error("object store: {0}")]
pub struct StoreError(String);

/// A bucket on an S3-compatible endpoint.
#[derive(Clone)]
pub struct ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Counts failed calls: the process's `s3_errors_total`, after [`Self::counting_errors_in`].
    errors: Option<IntCounter>,
}

impl ObjectStore {
    /// A client for the configured endpoint and bucket; opens no connection yet.
    pub fn new(settings: &S3Settings) -> ObjectStore {
        let credentials = Credentials::new(
            settings.access_key.clone(),
            settings.secret_key.expose_secret().to_owned(),
            None,
            None,
            "switchyard-config",
        );
        let mut builder = Builder::new()
            .behavior_version_latest()
            .region(Region::new(settings.region.clone()))
            .credentials_provider(credentials)
            .force_path_style(settings.force_path_style);
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint_url(endpoint);
        }
        ObjectStore {
            client: aws_sdk_s3::Client::from_conf(builder.build()),
            bucket: settings.bucket.clone(),
            errors: None,
        }
    }

    /// The same store, counting its failed calls in `metrics`.
    pub fn counting_errors_in(mut self, metrics: &Metrics) -> ObjectStore {
        self.errors = Some(metrics.s3_errors.clone());
        self
    }

    fn count_error(&self) {
        if let Some(errors) = &self.errors {
            errors.inc();
        }
    }

    /// A failed call, counted.
    fn err(&self, e: impl std::fmt::Display) -> StoreError {
        self.count_error();
        StoreError(e.to_string())
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Creates the bucket unless it exists already.
    pub async fn ensure_bucket(&self) -> Result<(), StoreError> {
        if self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        match self
            .client
            .create_bucket()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let exists = e.as_service_error().is_some_and(|s| {
                    s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
                });
                if exists {
                    Ok(())
                } else {
                    Err(self.err(aws_sdk_s3::error::DisplayErrorContext(e)))
                }
            }
        }
    }

    /// Whether the bucket answers; for `/readyz`.
    pub async fn ping(&self) -> bool {
        let answered = self
            .client
            .head_bucket()
            .bucket(&self.bucket)
            .send()
            .await
            .is_ok();
        if !answered {
            self.count_error();
        }
        answered
    }

    pub async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| self.err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    /// The object's bytes, or `None` when there is no such key.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.body
                    .collect()
                    .await
                    .map_err(|e| self.err(e))?
                    .into_bytes(),
            )),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.err(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    /// The object's bytes as they arrive, or `None` when there is no such key: for reading
    /// a large object a piece at a time and stopping early.
    pub async fn get_reader(
        &self,
        key: &str,
    ) -> Result<Option<impl tokio::io::AsyncBufRead + Send + Unpin + use<>>, StoreError> {
        match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(out.body.into_async_read())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.err(aws_sdk_s3::error::DisplayErrorContext(e))),
        }
    }

    /// Every key under `prefix`, in lexical order.
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let out = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| self.err(aws_sdk_s3::error::DisplayErrorContext(e)))?;
            keys.extend(
                out.contents()
                    .iter()
                    .filter_map(|o| o.key().map(str::to_owned)),
            );
            match out.next_continuation_token() {
                Some(next) if out.is_truncated() == Some(true) => token = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort();
        Ok(keys)
    }
}

/// Object-store key of an attempt's current diff.
pub fn diff_key(org_id: Uuid, attempt_id: Uuid) -> String {
    format!("orgs/{org_id}/attempts/{attempt_id}/diff.json")
}
