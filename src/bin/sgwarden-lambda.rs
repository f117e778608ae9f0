//! The `sgwarden-lambda` binary: the AWS Lambda function. Configuration and SDK clients
//! are built once at start-up and lent to every invocation; the warm policy cache lives
//! in the policy source. All logic is in the library (`sgwarden::handler`).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use serde_json::Value;
use sgwarden::aws::{home_region, org, sdk_config, wiring};
use sgwarden::config::LambdaConfig;
use sgwarden::handler::{self, HandlerError};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn diagnostic(e: HandlerError) -> Diagnostic {
    Diagnostic {
        error_type: e.error_type.to_string(),
        error_message: e.message,
    }
}

fn main() -> Result<(), lambda_runtime::Error> {
    // Every thread that polls the handler has a large stack (`limits::THREAD_STACK_BYTES`:
    // Security Hub's SDK types are large); reserved, not resident.
    let stack = sgwarden::limits::THREAD_STACK_BYTES;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_stack_size(stack)
        .build()?;
    sgwarden::limits::on_large_stack(|| runtime.block_on(serve()))?
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    // JSON logs, one object a line, for CloudWatch Logs Insights; RUST_LOG sets the level.
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .init();
    // A configuration error does not kill the process: every invocation then fails with
    // it as `ConfigInvalid`, so it shows in the invocation result, the on-failure
    // destination and the error alarm, not only in an init log line.
    let config = LambdaConfig::from_env().map_err(|e| {
        tracing::error!(error = %e, "configuration");
        e.to_string()
    });
    let sdk = sdk_config(None, None).await;
    let home = home_region(&sdk);
    let valid = config.as_ref().ok();
    let enforcer = wiring::lambda(&sdk, valid);
    if valid.is_some_and(|c| c.state.is_none()) {
        tracing::warn!(
            "SGWARDEN_STATE is not set: the per-group revert budget (settings.flap_limit) is kept in this container's memory only"
        );
    }
    let queue = valid
        .and_then(|c| c.work_queue.as_deref())
        .map(|url| org::SdkWorkQueue::new(&sdk, url));
    let (enforcer, config, home, queue) = (&enforcer, &config, home.as_str(), queue.as_ref());
    // The account comes from the function's own ARN, known at the first invocation.
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        let config = config.as_ref().map_err(|message| Diagnostic {
            error_type: "ConfigInvalid".to_string(),
            error_message: message.clone(),
        })?;
        let now = chrono::Utc::now();
        let home = handler::home(&event.context.invoked_function_arn, home);
        if let Some(members) = enforcer.ec2.members() {
            members.set_hub(&home.account);
        }
        if let Some(queue) = queue {
            match handler::plan_sweep(enforcer, queue, &home, &event.payload).await {
                Ok(Some(planned)) => {
                    tracing::info!(planned = %planned, "sweep queued");
                    return Ok(planned);
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::error!(error_type = e.error_type, error = %e.message, "planner failed");
                    return Err(diagnostic(e));
                }
            }
        }
        if sgwarden::work::is_batch(&event.payload) {
            // A hub's work queue: one run per item; the failed items go back to SQS.
            return handler::handle_batch(enforcer, config, &home, now, &event.payload)
                .await
                .map_err(diagnostic);
        }
        match handler::handle(enforcer, config, &home, now, &event.payload).await {
            Ok(report) => {
                tracing::info!(summary = %handler::summary(&report), "run done");
                Ok(handler::summary(&report))
            }
            Err(e) => {
                tracing::error!(error_type = e.error_type, error = %e.message, "run failed");
                Err(diagnostic(e))
            }
        }
    }))
    .await
}
