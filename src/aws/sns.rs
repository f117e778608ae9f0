//! [`Notifier`] on SNS (and S3 for full reports). Every report is first written to the
//! log as JSON, so it survives an unreachable topic; with a report bucket it is also
//! stored whole as `s3://bucket/reports/DATE/TIME-ID.json`, which a truncated SNS message
//! then names.

use aws_config::SdkConfig;
use aws_sdk_sns::types::MessageAttributeValue;

use crate::ports::{Notifier, NotifyError};
use crate::report::Report;
use crate::report::sns::{FullReport, message};

/// Publishes reports to a topic (when one is set) and stores them in a bucket (when set).
pub struct SnsNotifier {
    sns: aws_sdk_sns::Client,
    s3: aws_sdk_s3::Client,
    topic_arn: Option<String>,
    report_bucket: Option<String>,
}

impl SnsNotifier {
    pub fn new(
        config: &SdkConfig,
        topic_arn: Option<String>,
        report_bucket: Option<String>,
    ) -> Self {
        SnsNotifier {
            sns: aws_sdk_sns::Client::new(config),
            s3: super::s3_client(config),
            topic_arn,
            report_bucket,
        }
    }

    async fn store(&self, bucket: &str, report: &Report) -> Result<String, NotifyError> {
        let now = chrono::Utc::now();
        let id = report
            .trigger
            .event_id
            .clone()
            .unwrap_or_else(|| report.trigger.kind.as_str().to_string());
        let key = format!(
            "reports/{}/{}-{id}.json",
            now.format("%Y-%m-%d"),
            now.format("%H%M%S%.3f")
        );
        self.s3
            .put_object()
            .bucket(bucket)
            .key(&key)
            .content_type("application/json")
            .body(report.to_json().into_bytes().into())
            .send()
            .await
            .map_err(|e| NotifyError {
                message: format!(
                    "cannot write the full report to s3://{bucket}/{key}: {}",
                    super::error_text(&e)
                ),
            })?;
        Ok(format!("s3://{bucket}/{key}"))
    }
}

impl Notifier for SnsNotifier {
    async fn publish(&self, report: &Report) -> Result<(), NotifyError> {
        // The log always has the whole report, whatever happens to SNS.
        tracing::info!(report = %serde_json::to_string(report).unwrap_or_default(), "sgwarden report");
        // A report bucket that cannot be written never holds back the alert: the message
        // says the full report could not be stored, and the run still publishes.
        let stored = match &self.report_bucket {
            Some(bucket) => Some(self.store(bucket, report).await),
            None => None,
        };
        let full = match &stored {
            None => FullReport::NotKept,
            Some(Ok(at)) => FullReport::Stored(at),
            Some(Err(e)) => {
                tracing::error!(error = %e.message, "full report not stored");
                FullReport::NotStored(&e.message)
            }
        };
        let Some(topic) = &self.topic_arn else {
            return match stored {
                Some(Err(e)) => Err(e),
                _ => Ok(()),
            };
        };
        let m = message(report, full);
        let mut req = self
            .sns
            .publish()
            .topic_arn(topic)
            .subject(&m.subject)
            .message(&m.message)
            .message_structure("json");
        for (name, value) in &m.attributes {
            let v = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| NotifyError {
                    message: format!("cannot build message attribute `{name}`: {e}"),
                })?;
            req = req.message_attributes(name, v);
        }
        req.send().await.map_err(|e| NotifyError {
            message: format!("cannot publish to {topic}: {}", super::error_text(&e)),
        })?;
        Ok(())
    }
}
