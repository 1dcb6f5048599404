//! The DynamoDB adapter of [`InvoiceStore`] (aws-sdk-dynamodb): the store in AWS.
//!
//! # Table layout
//!
//! One table (its name from `TABLE_NAME`), on-demand capacity:
//!
//! - Partition key `invoiceId` (S). No sort key.
//! - An invoice item holds: `invoiceId` (S), `customerId` (S), `customerEmail`
//!   (S, when given), `amount` (**N**), `currency` (S), `dueDate` (S,
//!   `YYYY-MM-DD`), `description` (S, when given), `items` (L of M
//!   `{description S?, quantity N, rate N}`, when there are items),
//!   `invoiceNumber` (S, `INV-2026-000042`), `processedAt` (S, RFC 3339 UTC with
//!   milliseconds), `processedYear` (N, the UTC year of `processedAt`, the
//!   numbering year), `idempotencyKey` (S, the execution name), `contentHash`
//!   (S, 64 hex digits), `source` (M `{bucket S, key S, etag S?, versionId S?,
//!   record N, line N}`, when known).
//! - One counter item per numbering year in the same table, under a key no
//!   invoiceId can take (validated ids never contain `#`):
//!   `{invoiceId: "#counter#2026", lastNumber: N}`. It has none of the GSI key
//!   attributes, so it appears in no index.
//! - GSI [`CUSTOMER_DUE_INDEX`] `customerId-dueDate-index`: partition key
//!   `customerId` (S), sort key `dueDate` (S); projection ALL.
//! - GSI [`NUMBER_INDEX`] `invoiceNumber-index`: partition key `invoiceNumber`
//!   (S); projection ALL.
//! - GSI [`PROCESSED_INDEX`] `processedYear-processedAt-index`: partition key
//!   `processedYear` (N), sort key `processedAt` (S); projection ALL.
//!
//! [`create_table`] creates exactly this (tests and local setups use it; the
//! Terraform of the deployment declares the same).
//!
//! # Reads
//!
//! Lookup by invoiceId ([`InvoiceStore::get`]), the numbering's reads and the
//! read before the write are strongly consistent reads of the table. The
//! other queries read GSIs, and **a GSI is eventually consistent** in AWS
//! (it cannot be read consistently): lookup by invoiceNumber
//! ([`InvoiceStore::get_by_number`], [`NUMBER_INDEX`]), a customer's invoices
//! and the invoices of a period may miss an invoice stored a moment ago
//! (usually well under a second) or show an older state. They are for
//! reports and the CLI; no decision about numbering or duplicates is taken
//! from them. (The emulator answers GSI queries consistently.)
//!
//! DynamoDB keeps a number's value, not its digits (`1500.10` comes back as
//! `1500.1`): the amount is restored to its currency's scale on reading; item
//! quantities and rates come back equal in value.
//!
//! # Numbering
//!
//! An invoice and its number are written by one `TransactWriteItems`: an
//! `Update` of the year's counter item conditioned on the value read before
//! (`lastNumber = :last`, or `attribute_not_exists(invoiceId)` for the year's
//! first), setting `lastNumber = :last + k`, and a `Put` of each of the `k`
//! invoices conditioned on `attribute_not_exists(invoiceId)` (with
//! `ReturnValuesOnConditionCheckFailure = ALL_OLD`, which hands back the stored
//! item of an invoiceId that is already there). Both happen or neither, so a
//! number exists exactly when its invoice does: unique, never reused, no gaps.
//! A cancelled transaction is sorted out per item: a stored invoiceId gets its
//! stored receipt ([`Inserted::Existing`], nothing consumed) and the rest of
//! the batch is retried at once; any other cancellation (a counter that moved
//! because another writer committed, a transaction conflict, an item or index
//! DynamoDB throttles) is retried with the counter read again after a
//! full-jitter exponential backoff (at most [`DynamoOptions::backoff_cap`]),
//! at most [`DynamoOptions::max_attempts`] attempts in all, then
//! [`StoreError::Throttled`]. Throttled requests are first retried by the
//! SDK (standard retry mode).
//!
//! Before the transaction, one consistent `BatchGetItem` reads the batch's
//! invoiceIds (alongside the counter read): retries and duplicates are
//! answered from it and never contend for the counter
//! ([`DynamoOptions::read_before_write`]); the `Put` conditions still catch an
//! invoice another writer stores in between.
//!
//! Within one process, concurrent callers are served by one background task
//! that writes up to [`DynamoOptions::max_batch`] invoices per transaction,
//! so they never race each other for the counter; across processes (Lambda
//! instances) the conditions above keep numbering correct.
//!
//! # Throughput ceiling
//!
//! Gap-free numbering needs one serialization point per year: the counter
//! item `#counter#YYYY`. Every numbering transaction reads it and
//! conditionally updates it, and of the transactions racing for it DynamoDB
//! lets one commit; the others are cancelled and retried. So numbering tops
//! out at one committed transaction per counter round trip (read the counter,
//! then `TransactWriteItems`: some 15–30 ms within a region), roughly 30–70
//! per second per year, whatever capacity the table has; and a single item
//! can never take more than 1,000 write units per second, which a
//! transactional update consumes two at a time (at most 500 per second). With
//! the ProcessInvoice Lambda handling one invoice per invocation, each
//! transaction carries one invoice. More concurrent Lambda instances do not
//! raise the ceiling; they add conflicts and retries (the state machine retries
//! `Throttled`), so the process function's reserved concurrency should stay
//! small (about 5). Retries and duplicates are not limited by it: they are
//! answered by a read and never touch the counter.
//!
//! Why it is needed: a number may only be consumed together with its
//! invoice. Numbers handed out in parallel (a counter incremented outside the
//! invoice's transaction, blocks of numbers reserved per instance, per-shard
//! counters) leave a gap whenever the invoice write after it fails or an
//! instance dies holding unused numbers, or produce several sequences instead
//! of one. Writing the counter and the invoice in one transaction, conditioned
//! on the counter's previous value, makes both happen or neither, at the price
//! of serialising the numbering.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::retry::{RetryConfig, RetryMode};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValuesOnConditionCheckFailure,
    ScalarAttributeType, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use compact_str::CompactString;
use rust_decimal::Decimal;
use tokio::sync::{mpsc, oneshot};

use super::{
    sort_by_due_date, sort_by_processed_at, timestamp, ContentHash, DueRange, Inserted, InvoiceNumber, InvoiceStore,
    NewInvoice, Receipt, StoreError, StoredInvoice,
};
use crate::invoice::{Invoice, LineItem, Source};
use crate::money::Currency;

/// GSI: a customer's invoices by due date.
pub const CUSTOMER_DUE_INDEX: &str = "customerId-dueDate-index";
/// GSI: an invoice by its number.
pub const NUMBER_INDEX: &str = "invoiceNumber-index";
/// GSI: invoices by processing time, per numbering year.
pub const PROCESSED_INDEX: &str = "processedYear-processedAt-index";

/// Key condition on [`CUSTOMER_DUE_INDEX`] (values `:customerId`, `:from`, `:to`).
pub const CUSTOMER_DUE_CONDITION: &str = "customerId = :customerId AND dueDate BETWEEN :from AND :to";
/// Key condition on [`NUMBER_INDEX`] (value `:invoiceNumber`).
pub const NUMBER_CONDITION: &str = "invoiceNumber = :invoiceNumber";
/// Key condition on [`PROCESSED_INDEX`] (values `:year`, `:from`, `:to`; both ends included).
pub const PROCESSED_CONDITION: &str = "processedYear = :year AND processedAt BETWEEN :from AND :to";

/// The key of a year's counter item.
pub fn counter_key(year: i32) -> String {
    format!("#counter#{year}")
}

/// Tuning of a [`DynamoStore`].
#[derive(Debug, Clone)]
pub struct DynamoOptions {
    /// Most invoices per numbering transaction (DynamoDB allows 100 actions,
    /// one of which is the counter).
    pub max_batch: usize,
    /// Attempts of one numbering transaction that keeps being cancelled by
    /// other writers before giving up with [`StoreError::Throttled`].
    pub max_attempts: u32,
    /// First backoff after a conflict; doubles per attempt, with full jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_cap: Duration,
    /// How long a counter value this process wrote is trusted without reading
    /// it again (a stale value only costs one cancelled transaction).
    pub counter_ttl: Duration,
    /// Read the batch's invoiceIds (one consistent BatchGetItem, alongside the
    /// counter read) before the numbering transaction, so that retries and
    /// duplicates are answered without contending for the counter. Without
    /// it they are found by the transaction's conditions, at the price of a
    /// cancelled transaction.
    pub read_before_write: bool,
}

impl Default for DynamoOptions {
    fn default() -> Self {
        DynamoOptions {
            max_batch: 50,
            max_attempts: 10,
            backoff_base: Duration::from_millis(10),
            backoff_cap: Duration::from_secs(1),
            counter_ttl: Duration::from_secs(1),
            read_before_write: true,
        }
    }
}

/// Total size of the invoices of one transaction (DynamoDB allows 4 MB).
const BATCH_BYTES: usize = 3 << 20;

/// The DynamoDB store. Create it inside a tokio runtime (it starts its
/// numbering task there); clones share that task.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: Arc<str>,
    jobs: mpsc::UnboundedSender<Job>,
}

impl std::fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DynamoStore").field("table", &self.table).finish_non_exhaustive()
    }
}

struct Job {
    year: i32,
    invoice_id: String,
    item: HashMap<String, AttributeValue>,
    size: usize,
    processed_at: DateTime<Utc>,
    idempotency_key: String,
    content_hash: ContentHash,
    reply: oneshot::Sender<Result<Inserted, StoreError>>,
}

impl DynamoStore {
    /// A store on `table` with a client built from `sdk`, as the process
    /// Lambda makes it: standard retry mode with 5 attempts, so the SDK rides
    /// out short throttling (`ThrottlingException`,
    /// `ProvisionedThroughputExceededException`, 5xx) before the error
    /// reaches the store as [`StoreError::Throttled`] or
    /// [`StoreError::Unavailable`]. The backoff between attempts is `sdk`'s
    /// (the SDK's default: up to 1 s, doubling, with jitter).
    pub fn from_sdk_config(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> DynamoStore {
        let config = aws_sdk_dynamodb::config::Builder::from(sdk).retry_config(sdk_retry_config(sdk)).build();
        DynamoStore::new(Client::from_conf(config), table, DynamoOptions::default())
    }

    /// A store on `table` through `client`. Must be called inside a tokio runtime.
    pub fn new(client: Client, table: impl Into<String>, options: DynamoOptions) -> DynamoStore {
        let table: Arc<str> = Arc::from(table.into());
        let (jobs, queue) = mpsc::unbounded_channel();
        let numbering = Numbering { client: client.clone(), table: Arc::clone(&table), options, counter: None };
        tokio::spawn(numbering.run(queue));
        DynamoStore { client, table, jobs }
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The SDK client (for the README's queries in tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn query_index(
        &self,
        index: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        let mut request =
            self.client.query().table_name(&*self.table).index_name(index).key_condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        let items: Vec<_> = request
            .into_paginator()
            .items()
            .send()
            .collect::<Result<Vec<_>, _>>()
            .await
            .map_err(|e| map_sdk_error(&format!("Query {index}"), e))?;
        items.iter().map(|item| record_from_item(item).map_err(|e| corrupt(&self.table, e))).collect()
    }
}

/// The retry configuration of [`DynamoStore::from_sdk_config`]: `sdk`'s, in
/// standard mode with 5 attempts.
fn sdk_retry_config(sdk: &aws_config::SdkConfig) -> RetryConfig {
    sdk.retry_config()
        .cloned()
        .unwrap_or_else(RetryConfig::standard)
        .with_retry_mode(RetryMode::Standard)
        .with_max_attempts(5)
}

/// Creates the table with its three GSIs ([module docs](self)), on-demand
/// capacity, and waits until it is active.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str, kind: ScalarAttributeType| {
        AttributeDefinition::builder().attribute_name(name).attribute_type(kind).build().expect("complete definition")
    };
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder().attribute_name(name).key_type(kind).build().expect("complete key")
    };
    let all = Projection::builder().projection_type(ProjectionType::All).build();
    let gsi = |name: &str, keys: Vec<KeySchemaElement>| {
        GlobalSecondaryIndex::builder()
            .index_name(name)
            .set_key_schema(Some(keys))
            .projection(all.clone())
            .build()
            .expect("complete index")
    };
    client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("invoiceId", ScalarAttributeType::S))
        .attribute_definitions(attr("customerId", ScalarAttributeType::S))
        .attribute_definitions(attr("dueDate", ScalarAttributeType::S))
        .attribute_definitions(attr("invoiceNumber", ScalarAttributeType::S))
        .attribute_definitions(attr("processedYear", ScalarAttributeType::N))
        .attribute_definitions(attr("processedAt", ScalarAttributeType::S))
        .key_schema(key("invoiceId", KeyType::Hash))
        .global_secondary_indexes(gsi(
            CUSTOMER_DUE_INDEX,
            vec![key("customerId", KeyType::Hash), key("dueDate", KeyType::Range)],
        ))
        .global_secondary_indexes(gsi(NUMBER_INDEX, vec![key("invoiceNumber", KeyType::Hash)]))
        .global_secondary_indexes(gsi(
            PROCESSED_INDEX,
            vec![key("processedYear", KeyType::Hash), key("processedAt", KeyType::Range)],
        ))
        .send()
        .await
        .map_err(|e| map_sdk_error(&format!("CreateTable {table}"), e))?;
    client
        .wait_until_table_exists()
        .table_name(table)
        .wait(Duration::from_secs(120))
        .await
        .map_err(|e| StoreError::Unavailable(format!("table {table} did not become active: {e}")))?;
    Ok(())
}

/// The numbering task: takes the queued invoices, writes them in batches.
struct Numbering {
    client: Client,
    table: Arc<str>,
    options: DynamoOptions,
    /// (year, last number, when this process last saw it).
    counter: Option<(i32, u64, Instant)>,
}

/// How a numbering transaction failed.
enum TransactFailure {
    /// Cancelled: one reason per action (the counter first, then each invoice).
    Cancelled(Vec<CancellationReason>),
    Other(StoreError),
}

impl Numbering {
    async fn run(mut self, mut queue: mpsc::UnboundedReceiver<Job>) {
        let mut pending: VecDeque<Job> = VecDeque::new();
        loop {
            if pending.is_empty() {
                match queue.recv().await {
                    Some(job) => pending.push_back(job),
                    None => return,
                }
            }
            while let Ok(job) = queue.try_recv() {
                pending.push_back(job);
            }
            let batch = self.take_batch(&mut pending);
            if let Some(left) = self.write(batch).await {
                for job in left {
                    // A permanent failure of a whole batch: find the culprit alone.
                    if let Some(alone) = self.write(vec![job]).await {
                        debug_assert!(alone.is_empty(), "a single job is always answered");
                    }
                }
            }
        }
    }

    /// The next batch: the oldest job's year, distinct invoiceIds (one
    /// transaction cannot touch an item twice), within the size limits.
    fn take_batch(&self, pending: &mut VecDeque<Job>) -> Vec<Job> {
        let year = pending.front().map(|j| j.year).unwrap_or_default();
        let mut batch = Vec::new();
        let mut ids = HashSet::new();
        let mut bytes = 0;
        let mut rest = VecDeque::with_capacity(pending.len());
        for job in pending.drain(..) {
            let fits = batch.len() < self.options.max_batch.clamp(1, 99)
                && job.year == year
                && (batch.is_empty() || bytes + job.size <= BATCH_BYTES)
                && !ids.contains(&job.invoice_id);
            if fits {
                bytes += job.size;
                ids.insert(job.invoice_id.clone());
                batch.push(job);
            } else {
                rest.push_back(job);
            }
        }
        *pending = rest;
        batch
    }

    /// Writes a batch, answering every job, except after a permanent failure of
    /// a batch of several: then the jobs come back to be written one by one.
    async fn write(&mut self, jobs: Vec<Job>) -> Option<Vec<Job>> {
        let year = jobs.first()?.year;
        // Invoices already stored (retries, duplicates) are answered from one
        // consistent read, without touching the counter; the counter is read
        // meanwhile when this process has no fresh value.
        let fresh =
            matches!(self.counter, Some((y, _, seen)) if y == year && seen.elapsed() < self.options.counter_ttl);
        let (stored, counter) = tokio::join!(self.stored_receipts(&jobs), async {
            if fresh {
                None
            } else {
                Some(self.read_counter(year).await)
            }
        });
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => {
                reply_all(jobs, e);
                return None;
            }
        };
        let mut jobs: Vec<Job> = jobs
            .into_iter()
            .filter_map(|job| match stored.get(&job.invoice_id) {
                Some(receipt) => {
                    let _ = job.reply.send(Ok(Inserted::Existing(receipt.clone())));
                    None
                }
                None => Some(job),
            })
            .collect();
        match counter {
            Some(Ok(last)) => self.counter = Some((year, last, Instant::now())),
            Some(Err(e)) => {
                reply_all(jobs, e);
                return None;
            }
            None => {}
        }
        let mut attempt = 0u32;
        while !jobs.is_empty() {
            let last = match self.counter {
                Some((y, last, _)) if y == year => last,
                _ => match self.read_counter(year).await {
                    Ok(last) => last,
                    Err(e) => {
                        reply_all(jobs, e);
                        return None;
                    }
                },
            };
            let failure = match self.transact(&jobs, year, last).await {
                Ok(()) => {
                    let count = jobs.len() as u64;
                    self.counter = Some((year, last + count, Instant::now()));
                    for (i, job) in jobs.into_iter().enumerate() {
                        let number = InvoiceNumber { year, seq: last + 1 + i as u64 };
                        let receipt = Receipt {
                            invoice_number: number,
                            processed_at: job.processed_at,
                            idempotency_key: job.idempotency_key,
                            content_hash: job.content_hash,
                        };
                        let _ = job.reply.send(Ok(Inserted::New(receipt)));
                    }
                    return None;
                }
                Err(failure) => failure,
            };
            let reasons = match failure {
                TransactFailure::Cancelled(reasons) => reasons,
                TransactFailure::Other(e) => {
                    // It may even have committed: read the counter again before reuse.
                    self.counter = None;
                    if !e.is_transient() && jobs.len() > 1 {
                        return Some(jobs);
                    }
                    reply_all(jobs, e);
                    return None;
                }
            };
            // The counter's reason, then one per invoice ("None": that action was fine).
            let codes: Vec<&str> =
                (0..=jobs.len()).map(|i| reasons.get(i).and_then(|r| r.code()).unwrap_or("None")).collect();
            if codes[0] != "None" {
                self.counter = None; // another writer moved it (or it may have)
            }
            let back_off = needs_backoff(&codes);
            let mut retry = Vec::with_capacity(jobs.len());
            for (i, job) in jobs.into_iter().enumerate() {
                match codes[i + 1] {
                    "ConditionalCheckFailed" => {
                        let stored = reasons[i + 1].item().map(receipt_from_item);
                        let answer = match stored {
                            Some(Ok(receipt)) => Ok(Inserted::Existing(receipt)),
                            Some(Err(e)) => Err(corrupt(&self.table, e)),
                            None => self.read_receipt(&job.invoice_id).await.map(Inserted::Existing),
                        };
                        let _ = job.reply.send(answer);
                    }
                    "ValidationError" => {
                        let message = reasons[i + 1].message().unwrap_or("refused").to_string();
                        let _ = job.reply.send(Err(StoreError::Permanent(format!(
                            "DynamoDB refused invoice {}: {message}",
                            job.invoice_id
                        ))));
                    }
                    _ => retry.push(job),
                }
            }
            jobs = retry;
            if jobs.is_empty() {
                return None;
            }
            attempt += 1;
            if attempt >= self.options.max_attempts {
                let e = StoreError::Throttled(format!(
                    "numbering for {year} was cancelled {attempt} times (last reasons: counter {}, invoices {}); \
                     other writers or DynamoDB's throttling kept it from committing",
                    codes[0],
                    codes[1..].join(", ")
                ));
                reply_all(jobs, e);
                return None;
            }
            if back_off {
                tokio::time::sleep(self.backoff(attempt)).await;
            }
        }
        None
    }

    /// Full jitter: a random wait up to `base × 2^attempt`, at most the cap.
    fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.options.backoff_base.saturating_mul(1 << attempt.min(16)).min(self.options.backoff_cap);
        ceiling.mul_f64(fastrand::f64())
    }

    /// The receipts of the jobs' invoiceIds that are stored (a consistent BatchGetItem).
    async fn stored_receipts(&self, jobs: &[Job]) -> Result<HashMap<String, Receipt>, StoreError> {
        if !self.options.read_before_write {
            return Ok(HashMap::new());
        }
        let keys: Vec<Item> =
            jobs.iter().map(|job| HashMap::from([("invoiceId".to_string(), s(job.invoice_id.as_str()))])).collect();
        let mut request = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .projection_expression("invoiceId, invoiceNumber, processedAt, idempotencyKey, contentHash")
            .build()
            .map_err(|e| StoreError::Permanent(e.to_string()))?;
        let mut found = HashMap::new();
        for attempt in 0..self.options.max_attempts {
            let out = self
                .client
                .batch_get_item()
                .request_items(&*self.table, request)
                .send()
                .await
                .map_err(|e| map_sdk_error("BatchGetItem", e))?;
            for item in out.responses().and_then(|r| r.get(&*self.table)).into_iter().flatten() {
                let receipt = receipt_from_item(item).map_err(|e| corrupt(&self.table, e))?;
                found.insert(text(item, "invoiceId").map_err(|e| corrupt(&self.table, e))?.to_string(), receipt);
            }
            match out.unprocessed_keys().and_then(|u| u.get(&*self.table)) {
                Some(rest) if !rest.keys().is_empty() => {
                    request = rest.clone();
                    tokio::time::sleep(self.backoff(attempt + 1)).await;
                }
                _ => return Ok(found),
            }
        }
        Err(StoreError::Throttled(format!("table {}: BatchGetItem kept leaving keys unprocessed", self.table)))
    }

    async fn read_counter(&self, year: i32) -> Result<u64, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key("invoiceId", AttributeValue::S(counter_key(year)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetItem (counter)", e))?;
        match out.item().and_then(|item| item.get("lastNumber")) {
            None => Ok(0),
            Some(AttributeValue::N(n)) => n.parse().map_err(|_| corrupt(&self.table, format!("counter {n:?}"))),
            Some(other) => Err(corrupt(&self.table, format!("counter {other:?}"))),
        }
    }

    async fn read_receipt(&self, invoice_id: &str) -> Result<Receipt, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key("invoiceId", AttributeValue::S(invoice_id.to_string()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetItem", e))?;
        let item = out.item().ok_or_else(|| {
            StoreError::Unavailable(format!("invoice {invoice_id} was reported stored but cannot be read yet"))
        })?;
        receipt_from_item(item).map_err(|e| corrupt(&self.table, e))
    }

    async fn transact(&self, jobs: &[Job], year: i32, last: u64) -> Result<(), TransactFailure> {
        let next = last + jobs.len() as u64;
        let mut counter = Update::builder()
            .table_name(&*self.table)
            .key("invoiceId", AttributeValue::S(counter_key(year)))
            .update_expression("SET lastNumber = :next")
            .expression_attribute_values(":next", AttributeValue::N(next.to_string()));
        counter = if last == 0 {
            counter.condition_expression("attribute_not_exists(invoiceId)")
        } else {
            counter
                .condition_expression("lastNumber = :last")
                .expression_attribute_values(":last", AttributeValue::N(last.to_string()))
        };
        let counter = counter.build().map_err(|e| TransactFailure::Other(StoreError::Permanent(e.to_string())))?;
        let mut request =
            self.client.transact_write_items().transact_items(TransactWriteItem::builder().update(counter).build());
        for (i, job) in jobs.iter().enumerate() {
            let number = InvoiceNumber { year, seq: last + 1 + i as u64 };
            let mut item = job.item.clone();
            item.insert("invoiceNumber".into(), AttributeValue::S(number.to_string()));
            let put = Put::builder()
                .table_name(&*self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(invoiceId)")
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .build()
                .map_err(|e| TransactFailure::Other(StoreError::Permanent(e.to_string())))?;
            request = request.transact_items(TransactWriteItem::builder().put(put).build());
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(SdkError::ServiceError(service)) => match service.err() {
                TransactWriteItemsError::TransactionCanceledException(cancelled) => {
                    Err(TransactFailure::Cancelled(cancelled.cancellation_reasons().to_vec()))
                }
                _ => Err(TransactFailure::Other(map_sdk_error("TransactWriteItems", SdkError::ServiceError(service)))),
            },
            Err(e) => Err(TransactFailure::Other(map_sdk_error("TransactWriteItems", e))),
        }
    }
}

/// Whether a cancelled numbering transaction is retried only after a backoff,
/// from its cancellation reasons (`codes[0]` the counter's, then one per
/// invoice; `"None"` for an action that was fine).
///
/// The one cancellation retried at once is the one explained by the batch
/// itself: some invoices' own `ConditionalCheckFailed` (already stored: they
/// are answered and leave the batch) or `ValidationError` (refused: likewise),
/// with the counter and every other invoice fine. Everything else means
/// contention or load: the counter moved (`ConditionalCheckFailed`), another
/// transaction holds an item (`TransactionConflict`), DynamoDB throttles an
/// item or an index (`ThrottlingError`, `ProvisionedThroughputExceeded`), or a
/// reason this code does not know. Retrying those at once would only repeat
/// the cancellation, so they wait (full jitter, bounded by
/// [`DynamoOptions::backoff_cap`]).
fn needs_backoff(codes: &[&str]) -> bool {
    let (counter, invoices) = codes.split_first().unwrap_or((&"None", &[]));
    let answered = |c: &&str| matches!(*c, "ConditionalCheckFailed" | "ValidationError");
    let explained =
        *counter == "None" && invoices.iter().all(|c| *c == "None" || answered(c)) && invoices.iter().any(answered);
    !explained
}

fn reply_all(jobs: Vec<Job>, error: StoreError) {
    for job in jobs {
        let _ = job.reply.send(Err(error.clone()));
    }
}

fn corrupt(table: &str, what: String) -> StoreError {
    StoreError::Permanent(format!("table {table}: a stored item cannot be read: {what}"))
}

/// An SDK failure as a store error: network trouble, timeouts and 5xx are
/// `Unavailable`; throttling (after the SDK's own retries) is `Throttled`;
/// the rest (missing table, validation, access) is permanent.
fn map_sdk_error<E>(operation: &str, error: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let text = format!("DynamoDB {operation}: {}", DisplayErrorContext(&error));
    match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            StoreError::Unavailable(text)
        }
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            match code {
                "ProvisionedThroughputExceededException"
                | "RequestLimitExceeded"
                | "ThrottlingException"
                | "TransactionInProgressException" => StoreError::Throttled(text),
                "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => StoreError::Unavailable(text),
                _ if status >= 500 => StoreError::Unavailable(text),
                _ => StoreError::Permanent(text),
            }
        }
        _ => StoreError::Permanent(text),
    }
}

// --- items ---------------------------------------------------------------

fn s(text: impl Into<String>) -> AttributeValue {
    AttributeValue::S(text.into())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The item of a new invoice, without its `invoiceNumber` (set per attempt).
fn invoice_item(new: &NewInvoice) -> HashMap<String, AttributeValue> {
    let invoice = &new.invoice;
    let mut item = HashMap::with_capacity(16);
    item.insert("invoiceId".into(), s(invoice.invoice_id.as_str()));
    item.insert("customerId".into(), s(invoice.customer_id.as_str()));
    if let Some(email) = &invoice.customer_email {
        item.insert("customerEmail".into(), s(email.as_str()));
    }
    item.insert("amount".into(), n(invoice.amount));
    item.insert("currency".into(), s(invoice.currency.code()));
    item.insert("dueDate".into(), s(invoice.due_date.format("%Y-%m-%d").to_string()));
    if let Some(description) = &invoice.description {
        item.insert("description".into(), s(description.as_str()));
    }
    if !invoice.items.is_empty() {
        let lines = invoice
            .items
            .iter()
            .map(|line| {
                let mut m = HashMap::with_capacity(3);
                if let Some(d) = &line.description {
                    m.insert("description".to_string(), s(d.as_str()));
                }
                m.insert("quantity".to_string(), n(line.quantity));
                m.insert("rate".to_string(), n(line.rate));
                AttributeValue::M(m)
            })
            .collect();
        item.insert("items".into(), AttributeValue::L(lines));
    }
    item.insert("processedAt".into(), s(timestamp::format(&new.processed_at)));
    item.insert("processedYear".into(), n(new.year()));
    item.insert("idempotencyKey".into(), s(new.idempotency_key.as_str()));
    item.insert("contentHash".into(), s(new.content_hash.to_string()));
    if let Some(source) = &new.source {
        let mut m = HashMap::with_capacity(6);
        m.insert("bucket".to_string(), s(source.bucket.as_str()));
        m.insert("key".to_string(), s(source.key.as_str()));
        if let Some(etag) = &source.etag {
            m.insert("etag".to_string(), s(etag.as_str()));
        }
        if let Some(version) = &source.version_id {
            m.insert("versionId".to_string(), s(version.as_str()));
        }
        m.insert("record".to_string(), n(source.record));
        m.insert("line".to_string(), n(source.line));
        item.insert("source".into(), AttributeValue::M(m));
    }
    item
}

/// Rough size of an item, for the transaction size limit.
fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    fn value(v: &AttributeValue) -> usize {
        match v {
            AttributeValue::S(t) | AttributeValue::N(t) => t.len() + 1,
            AttributeValue::L(list) => 3 + list.iter().map(value).sum::<usize>(),
            AttributeValue::M(map) => 3 + map.iter().map(|(k, v)| k.len() + value(v)).sum::<usize>(),
            _ => 8,
        }
    }
    item.iter().map(|(k, v)| k.len() + value(v)).sum()
}

type Item = HashMap<String, AttributeValue>;

fn text<'a>(item: &'a Item, name: &str) -> Result<&'a str, String> {
    match item.get(name) {
        Some(AttributeValue::S(t)) => Ok(t),
        Some(other) => Err(format!("{name} is not a string: {other:?}")),
        None => Err(format!("{name} is missing")),
    }
}

fn optional_text(item: &Item, name: &str) -> Result<Option<CompactString>, String> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(t)) => Ok(Some(CompactString::from(t.as_str()))),
        Some(other) => Err(format!("{name} is not a string: {other:?}")),
    }
}

fn number<T: std::str::FromStr>(item: &Item, name: &str) -> Result<T, String> {
    match item.get(name) {
        Some(AttributeValue::N(t)) => t.parse().map_err(|_| format!("{name} {t:?} is not a valid number")),
        Some(other) => Err(format!("{name} is not a number: {other:?}")),
        None => Err(format!("{name} is missing")),
    }
}

fn receipt_from_item(item: &Item) -> Result<Receipt, String> {
    Ok(Receipt {
        invoice_number: text(item, "invoiceNumber")?.parse().map_err(|e: super::InvoiceNumberError| e.to_string())?,
        processed_at: timestamp::parse(text(item, "processedAt")?)?,
        idempotency_key: text(item, "idempotencyKey")?.to_string(),
        content_hash: text(item, "contentHash")?.parse()?,
    })
}

fn record_from_item(item: &Item) -> Result<StoredInvoice, String> {
    let receipt = receipt_from_item(item)?;
    let currency_code = text(item, "currency")?;
    let currency = Currency::parse(currency_code).ok_or_else(|| format!("currency {currency_code:?} is unknown"))?;
    let mut amount: Decimal = number(item, "amount")?;
    amount.rescale(currency.minor_units().max(amount.scale()));
    let due_date = text(item, "dueDate")?;
    let due_date = NaiveDate::parse_from_str(due_date, "%Y-%m-%d").map_err(|_| format!("dueDate {due_date:?}"))?;
    let items = match item.get("items") {
        None => Vec::new(),
        Some(AttributeValue::L(list)) => list
            .iter()
            .map(|v| match v {
                AttributeValue::M(m) => Ok(LineItem {
                    description: optional_text(m, "description")?,
                    quantity: number(m, "quantity")?,
                    rate: number(m, "rate")?,
                }),
                other => Err(format!("an item is not a map: {other:?}")),
            })
            .collect::<Result<_, String>>()?,
        Some(other) => Err(format!("items is not a list: {other:?}"))?,
    };
    let source = match item.get("source") {
        None => None,
        Some(AttributeValue::M(m)) => Some(Source {
            bucket: text(m, "bucket")?.to_string(),
            key: text(m, "key")?.to_string(),
            etag: optional_text(m, "etag")?.map(String::from),
            version_id: optional_text(m, "versionId")?.map(String::from),
            record: number(m, "record")?,
            line: number(m, "line")?,
        }),
        Some(other) => Err(format!("source is not a map: {other:?}"))?,
    };
    let invoice = Invoice {
        invoice_id: CompactString::from(text(item, "invoiceId")?),
        customer_id: CompactString::from(text(item, "customerId")?),
        customer_email: optional_text(item, "customerEmail")?,
        amount,
        currency,
        due_date,
        description: optional_text(item, "description")?,
        items,
    };
    Ok(StoredInvoice {
        invoice_number: receipt.invoice_number,
        processed_at: receipt.processed_at,
        idempotency_key: receipt.idempotency_key,
        content_hash: receipt.content_hash,
        source,
        invoice,
    })
}

#[async_trait]
impl InvoiceStore for DynamoStore {
    async fn insert(&self, new: NewInvoice) -> Result<Inserted, StoreError> {
        let item = invoice_item(&new);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            year: new.year(),
            size: item_size(&item),
            item,
            invoice_id: new.invoice.invoice_id.to_string(),
            processed_at: new.processed_at,
            idempotency_key: new.idempotency_key,
            content_hash: new.content_hash,
            reply,
        };
        if self.jobs.send(job).is_err() {
            return Err(StoreError::Unavailable("the DynamoDB numbering task has stopped".into()));
        }
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the DynamoDB numbering task stopped before answering".into()))?
    }

    async fn get(&self, invoice_id: &str) -> Result<Option<StoredInvoice>, StoreError> {
        if invoice_id.starts_with('#') {
            return Ok(None); // internal items (counters) are not invoices
        }
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .key("invoiceId", s(invoice_id))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| map_sdk_error("GetItem", e))?;
        out.item().map(|item| record_from_item(item).map_err(|e| corrupt(&self.table, e))).transpose()
    }

    /// Reads [`NUMBER_INDEX`], a GSI: eventually consistent in AWS, so an
    /// invoice numbered a moment ago may not be found yet (see [Reads](self#reads)).
    async fn get_by_number(&self, number: InvoiceNumber) -> Result<Option<StoredInvoice>, StoreError> {
        let found =
            self.query_index(NUMBER_INDEX, NUMBER_CONDITION, vec![(":invoiceNumber", s(number.to_string()))]).await?;
        Ok(found.into_iter().next())
    }

    async fn customer_invoices(&self, customer_id: &str, due: DueRange) -> Result<Vec<StoredInvoice>, StoreError> {
        let from = due.from.map_or_else(|| "0000-01-01".to_string(), |d| d.format("%Y-%m-%d").to_string());
        let to = due.to.map_or_else(|| "9999-12-31".to_string(), |d| d.format("%Y-%m-%d").to_string());
        let values = vec![(":customerId", s(customer_id)), (":from", s(from)), (":to", s(to))];
        let mut found = self.query_index(CUSTOMER_DUE_INDEX, CUSTOMER_DUE_CONDITION, values).await?;
        sort_by_due_date(&mut found);
        Ok(found)
    }

    async fn processed_between(
        &self,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<StoredInvoice>, StoreError> {
        // [from, to) in whole milliseconds is [from, to - 1 ms] with BETWEEN.
        let from = timestamp::truncate_to_millis(from);
        let last = timestamp::truncate_to_millis(to) - chrono::Duration::milliseconds(1);
        let mut found = Vec::new();
        if last < from {
            return Ok(found);
        }
        for year in from.year()..=last.year() {
            let values =
                vec![(":year", n(year)), (":from", s(timestamp::format(&from))), (":to", s(timestamp::format(&last)))];
            found.extend(self.query_index(PROCESSED_INDEX, PROCESSED_CONDITION, values).await?);
        }
        sort_by_processed_at(&mut found);
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellations_back_off_unless_the_batch_explains_them() {
        // Retried at once: only invoices already stored (or refused) stopped it.
        assert!(!needs_backoff(&["None", "ConditionalCheckFailed"]));
        assert!(!needs_backoff(&["None", "None", "ConditionalCheckFailed", "ValidationError"]));
        // Another writer moved the counter, or holds an item.
        assert!(needs_backoff(&["ConditionalCheckFailed", "None"]));
        assert!(needs_backoff(&["ConditionalCheckFailed", "ConditionalCheckFailed"]));
        assert!(needs_backoff(&["TransactionConflict", "None"]));
        assert!(needs_backoff(&["None", "TransactionConflict", "ConditionalCheckFailed"]));
        // DynamoDB throttles the counter item (or an index), the invoices are fine.
        assert!(needs_backoff(&["ThrottlingError", "None"]));
        assert!(needs_backoff(&["ProvisionedThroughputExceeded", "None", "None"]));
        assert!(needs_backoff(&["None", "ThrottlingError"]));
        // Unknown or no reason at all.
        assert!(needs_backoff(&["None", "None"]));
        assert!(needs_backoff(&["SomethingNew", "ConditionalCheckFailed"]));
        assert!(needs_backoff(&[]));
    }

    #[test]
    fn backoff_is_full_jitter_below_the_cap() {
        let numbering = |base: u64, cap: u64| Numbering {
            client: Client::from_conf(
                aws_sdk_dynamodb::Config::builder()
                    .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                    .build(),
            ),
            table: Arc::from("t"),
            options: DynamoOptions {
                backoff_base: Duration::from_millis(base),
                backoff_cap: Duration::from_millis(cap),
                ..DynamoOptions::default()
            },
            counter: None,
        };
        let n = numbering(10, 300);
        for attempt in 1..40 {
            let ceiling = Duration::from_millis((10u64 << attempt.min(16)).min(300));
            let waits: Vec<Duration> = (0..200).map(|_| n.backoff(attempt)).collect();
            assert!(waits.iter().all(|w| *w <= ceiling), "attempt {attempt}: {waits:?}");
            // Jittered: not all the same, and some well below the ceiling.
            assert!(waits.iter().any(|w| *w < ceiling / 2), "attempt {attempt}");
            assert!(waits.iter().any(|w| *w > ceiling / 2), "attempt {attempt}");
        }
    }

    #[test]
    fn the_lambda_client_retries_five_times_in_standard_mode_with_the_configs_backoff() {
        let sdk = aws_config::SdkConfig::builder()
            .retry_config(RetryConfig::adaptive().with_max_attempts(2).with_initial_backoff(Duration::from_millis(7)))
            .build();
        let retry = sdk_retry_config(&sdk);
        assert_eq!(retry.mode(), RetryMode::Standard);
        assert_eq!(retry.max_attempts(), 5);
        assert_eq!(retry.initial_backoff(), Duration::from_millis(7));
        let default = sdk_retry_config(&aws_config::SdkConfig::builder().build());
        assert_eq!((default.mode(), default.max_attempts()), (RetryMode::Standard, 5));
        assert_eq!(default.initial_backoff(), Duration::from_secs(1));
    }

    #[test]
    fn items_read_back_with_the_currency_scale() {
        let invoice: Invoice = serde_json::from_str(
            r#"{"invoiceId":"INV-1","customerId":"C-1","customerEmail":"a@b.co","amount":1500.10,"currency":"USD",
                "dueDate":"2030-12-31","description":"d","items":[{"description":"x","quantity":50,"rate":30.002}]}"#,
        )
        .unwrap();
        let new = NewInvoice {
            invoice: invoice.clone(),
            idempotency_key: "exec-1".into(),
            content_hash: crate::process::content_hash(&invoice),
            source: Some(Source {
                bucket: "b".into(),
                key: "k".into(),
                etag: Some("e".into()),
                version_id: None,
                record: 3,
                line: 4,
            }),
            processed_at: timestamp::parse("2026-11-24T13:05:01.123Z").unwrap(),
        };
        let mut item = invoice_item(&new);
        assert_eq!(item["amount"], AttributeValue::N("1500.10".into()));
        assert_eq!(item["processedYear"], AttributeValue::N("2026".into()));
        // DynamoDB keeps the value, not the digits.
        item.insert("amount".into(), AttributeValue::N("1500.1".into()));
        item.insert("invoiceNumber".into(), s("INV-2026-000007"));
        let record = record_from_item(&item).unwrap();
        assert_eq!(record.invoice.amount.to_string(), "1500.10");
        assert_eq!(record.invoice, invoice);
        assert_eq!(record.source, new.source);
        assert_eq!(record.invoice_number.to_string(), "INV-2026-000007");
        assert_eq!(record.receipt().content_hash, new.content_hash);
        item.remove("customerId");
        assert_eq!(record_from_item(&item).unwrap_err(), "customerId is missing");
    }
}
