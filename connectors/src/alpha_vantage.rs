//! alpha_vantage connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct AlphaVantage;

static PARAMS: [Param; 4] = [
    Param::optional("function", ""),
    Param::optional("symbol", ""),
    Param::optional("interval", ""),
    Param::optional("outputsize", ""),
];

impl Connector for AlphaVantage {
    fn id(&self) -> &'static str {
        "alpha_vantage"
    }
    fn describe(&self) -> &'static str {
        "alpha_vantage"
    }
    fn group(&self) -> Group {
        Group::Financial
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("alpha_vantage is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
