//! Settings shared by the commands that validate: the default currency and the
//! processing date.

use chrono::NaiveDate;
use clap::Args;
use workflow::{Currency, Rules};

#[derive(Args, Clone)]
pub struct RulesArgs {
    /// Currency of invoices that name none (ISO 4217).
    #[arg(long, env = "DEFAULT_CURRENCY", default_value = "USD", value_name = "CODE")]
    pub default_currency: String,
    /// Processing date: due dates must be after it (default: today, UTC).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = parse_day)]
    pub today: Option<NaiveDate>,
}

fn parse_day(text: &str) -> Result<NaiveDate, String> {
    workflow::date::parse_date(text.as_bytes()).map_err(|e| format!("{text:?} {e}"))
}

impl RulesArgs {
    pub fn rules(&self) -> Result<Rules, String> {
        let default_currency = Currency::parse(&self.default_currency)
            .ok_or_else(|| format!("--default-currency {:?} is not an ISO 4217 code", self.default_currency))?;
        Ok(Rules { default_currency, ..Rules::default() })
    }

    pub fn today(&self) -> NaiveDate {
        self.today.unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}
