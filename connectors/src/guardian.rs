//! guardian connector (being written).

use crate::params::Param;
use crate::{Connector, ConnectorError, Context, Group, Page, Params, Request, Response};

pub struct Guardian;

static PARAMS: [Param; 7] = [
    Param::optional("q", ""),
    Param::optional("section", ""),
    Param::optional("from-date", ""),
    Param::optional("to-date", ""),
    Param::optional("page", ""),
    Param::optional("page-size", ""),
    Param::optional("order-by", ""),
];

impl Connector for Guardian {
    fn id(&self) -> &'static str {
        "guardian"
    }
    fn describe(&self) -> &'static str {
        "guardian"
    }
    fn group(&self) -> Group {
        Group::News
    }
    fn params(&self) -> &'static [Param] {
        &PARAMS
    }
    fn start(&self, _ctx: &Context, _p: &Params) -> Result<Request, ConnectorError> {
        Err(ConnectorError::config("guardian is not available yet"))
    }
    fn read(&self, _ctx: &Context, _p: &Params, _req: &Request, resp: &Response) -> Result<Page, ConnectorError> {
        Err(resp.status_error())
    }
}
