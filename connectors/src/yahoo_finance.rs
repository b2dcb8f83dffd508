//! yahoo_finance connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct YahooFinance;

static PARAMS: [Param; 3] = [
    Param::optional("symbol", ""),
    Param::optional("range", ""),
    Param::optional("interval", ""),
];

impl Connector for YahooFinance {
    fn id(&self) -> &'static str {
        "yahoo_finance"
    }
    fn describe(&self) -> &'static str {
        "yahoo_finance"
    }
    fn group(&self) -> Group {
        Group::Financial
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("yahoo_finance is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
