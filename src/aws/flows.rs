//! [`FlowSource`] on CloudWatch Logs: `FilterLogEvents` over the window, every page, each
//! message parsed by [`crate::flows::parse_record`] and kept when it is a record of one of
//! the interfaces asked for. No filter pattern is sent: sgwarden selects the records itself.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};

use crate::flows::{FlowRecord, parse_record};
use crate::place::Place;
use crate::ports::{FlowError, FlowSource};

/// CloudWatch Logs through the SDK.
pub struct SdkFlows {
    config: SdkConfig,
    /// In a hub deployment, the member role of each governed account.
    members: Option<std::sync::Arc<super::member::Members>>,
}

impl SdkFlows {
    pub fn new(config: &SdkConfig) -> Self {
        SdkFlows {
            config: config.clone(),
            members: None,
        }
    }

    /// Flow logs in every account of a hub deployment, read with each member's role.
    pub fn with_members(mut self, members: std::sync::Arc<super::member::Members>) -> Self {
        self.members = Some(members);
        self
    }
}

impl FlowSource for SdkFlows {
    async fn records(
        &self,
        place: &Place,
        log_group: &str,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        interfaces: &[String],
    ) -> Result<Vec<FlowRecord>, FlowError> {
        let conf = super::member::place_config(self.members.as_deref(), &self.config, place).await;
        let client = aws_sdk_cloudwatchlogs::Client::new(&conf);
        let mut pages = client
            .filter_log_events()
            .log_group_name(log_group)
            .start_time(start.timestamp_millis())
            .end_time(end.timestamp_millis())
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| FlowError {
                log_group: log_group.to_string(),
                message: super::error_text(&e),
            })?;
            for event in page.events() {
                let Some(record) = event.message().and_then(parse_record) else {
                    continue;
                };
                if interfaces.contains(&record.interface_id) {
                    out.push(record);
                }
            }
        }
        Ok(out)
    }
}
