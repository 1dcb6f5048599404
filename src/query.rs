//! `invoices query`: reads what the local pipeline stored.
//!
//! The same queries as the store port offers (and the DynamoDB table answers
//! on AWS): one invoice by invoiceId or by invoice number, a customer's
//! invoices (optionally in a due-date range), or the invoices processed in a
//! period (all of them when nothing is given). Exit status: 0 when something
//! was found, 1 when nothing was, 2 on an error.

use std::path::PathBuf;

use chrono::{NaiveDate, TimeZone, Utc};
use clap::Args;
use workflow::store::sqlite::SqliteStore;
use workflow::store::{DueRange, InvoiceNumber, InvoiceStore, StoredInvoice};

#[derive(Args)]
pub struct QueryArgs {
    /// The invoice with this invoiceId.
    #[arg(long, value_name = "ID", group = "what")]
    invoice_id: Option<String>,
    /// The invoice with this invoice number (INV-YYYY-NNNNNN).
    #[arg(long, value_name = "NUMBER", group = "what")]
    number: Option<String>,
    /// A customer's invoices, by due date.
    #[arg(long, value_name = "ID", group = "what")]
    customer: Option<String>,
    /// With --customer: due on or after this date.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "customer", value_parser = parse_day)]
    due_from: Option<NaiveDate>,
    /// With --customer: due on or before this date.
    #[arg(long, value_name = "YYYY-MM-DD", requires = "customer", value_parser = parse_day)]
    due_to: Option<NaiveDate>,
    /// Invoices processed on or after this day (UTC), in processing order.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "what", value_parser = parse_day)]
    processed_from: Option<NaiveDate>,
    /// Invoices processed on or before this day (UTC), in processing order.
    #[arg(long, value_name = "YYYY-MM-DD", conflicts_with = "what", value_parser = parse_day)]
    processed_to: Option<NaiveDate>,
    /// The data directory of `invoices run`.
    #[arg(long, default_value = ".invoices", value_name = "DIR")]
    data_dir: PathBuf,
    /// Print a JSON array of the stored records instead of a table.
    #[arg(long)]
    json: bool,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    workflow::date::parse_date(text.as_bytes()).map_err(|e| format!("{text:?} {e}"))
}

pub fn run(args: QueryArgs) -> u8 {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("invoices query: {e}");
            return 2;
        }
    };
    match runtime.block_on(query(&args)) {
        Ok(found) => {
            if args.json {
                println!("{}", serde_json::to_string_pretty(&found).expect("records serialize"));
            } else {
                print_table(&found);
            }
            if found.is_empty() {
                1
            } else {
                0
            }
        }
        Err(e) => {
            eprintln!("invoices query: {e}");
            2
        }
    }
}

async fn query(args: &QueryArgs) -> Result<Vec<StoredInvoice>, String> {
    let path = args.data_dir.join("invoices.db");
    if !path.exists() {
        return Err(format!("{} does not exist: nothing has been run with this data directory", path.display()));
    }
    let store = SqliteStore::open(&path).map_err(|e| e.to_string())?;
    let found = if let Some(id) = &args.invoice_id {
        store.get(id).await.map_err(|e| e.to_string())?.into_iter().collect()
    } else if let Some(number) = &args.number {
        let number: InvoiceNumber = number.parse().map_err(|e| format!("--number: {e}"))?;
        store.get_by_number(number).await.map_err(|e| e.to_string())?.into_iter().collect()
    } else if let Some(customer) = &args.customer {
        let due = DueRange { from: args.due_from, to: args.due_to };
        store.customer_invoices(customer, due).await.map_err(|e| e.to_string())?
    } else {
        // Open ends are the first and last instants of four-digit years.
        let start_of = |d: NaiveDate| Utc.from_utc_datetime(&d.and_time(chrono::NaiveTime::MIN));
        let from = start_of(args.processed_from.unwrap_or(NaiveDate::from_ymd_opt(1, 1, 1).expect("a date")));
        let to = start_of(
            args.processed_to
                .and_then(|d| d.succ_opt())
                .unwrap_or(NaiveDate::from_ymd_opt(9999, 12, 31).expect("a date")),
        );
        store.processed_between(from, to).await.map_err(|e| e.to_string())?
    };
    Ok(found)
}

fn print_table(found: &[StoredInvoice]) {
    if found.is_empty() {
        println!("no invoice found");
        return;
    }
    let id_width = found.iter().map(|r| r.invoice.invoice_id.len()).max().unwrap_or(0).max("invoiceId".len());
    let customer_width = found.iter().map(|r| r.invoice.customer_id.len()).max().unwrap_or(0).max("customerId".len());
    println!(
        "{:<16}  {:<id_width$}  {:<customer_width$}  {:>20}  {:<10}  processedAt",
        "invoiceNumber", "invoiceId", "customerId", "amount", "dueDate"
    );
    for r in found {
        println!(
            "{:<16}  {:<id_width$}  {:<customer_width$}  {:>20}  {:<10}  {}",
            r.invoice_number.to_string(),
            r.invoice.invoice_id,
            r.invoice.customer_id,
            r.invoice.currency.format(r.invoice.amount),
            r.invoice.due_date.to_string(),
            workflow::store::timestamp::format(&r.processed_at),
        );
    }
    println!("{} invoice{}", found.len(), if found.len() == 1 { "" } else { "s" });
}
